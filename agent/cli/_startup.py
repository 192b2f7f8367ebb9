"""The ``geo-agent`` process's start-up: the first answer as soon as the imports allow.

Nearly all of the time to a first answer is importing the LangChain and openai stacks, which
build hundreds of thousands of long-lived objects; the cyclic garbage collector would walk
them again and again (about a fifth of the start-up). So it is paused until the first reply
is under way, and what exists by then is frozen out of later collections (``gc.freeze``).
"""

from __future__ import annotations

import gc

from agent._compat.httpx import skip_cli_import


def begin() -> None:
    """Start-up begins: pause collection, and skip httpx's unused command-line client."""
    skip_cli_import()
    gc.disable()


def settled() -> None:
    """The first reply is under way: everything imported is kept, collection resumes."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
