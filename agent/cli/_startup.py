"""The ``geo-agent`` process's start-up: the first answer as soon as the imports allow.

Nearly all of the time to a first answer is importing the LangChain and openai stacks, which
build hundreds of thousands of long-lived objects; the cyclic garbage collector would walk
them again and again (about a fifth of the start-up), and, in a server, again in every full
collection under load. So it is paused until the first reply is under way (``ask``, ``chat``)
or the app has started (``serve``), and what exists by then is frozen out of later
collections (``gc.freeze``).
"""

from __future__ import annotations

import gc

from bailian_geo_agent.agent._compat.httpx import skip_cli_import


def begin() -> None:
    """Start-up begins: pause collection, and skip httpx's unused command-line client."""
    skip_cli_import()
    gc.disable()


SERVING_GC_THRESHOLD = (10_000, 10, 10)
"""``gc.set_threshold`` for ``geo-agent serve``: with hundreds of replies in flight, Python's
default (700, 10, 10) spends about half the server's CPU in collections (``bench.scale``:
1,000 concurrent SSE replies, 8.6 CPU s with the default, 5.4 with this, the same peak RSS)."""


def settled(serving: bool = False) -> None:
    """The first reply is under way, or (``serving``) the server has started: everything
    imported is kept, collection resumes (for a server, less often)."""
    if not gc.isenabled():
        gc.freeze()
        if serving:
            gc.set_threshold(*SERVING_GC_THRESHOLD)
        gc.enable()
