"""httpx's optional command-line client, which ``import httpx`` loads whenever its
dependencies (click, rich, pygments) happen to be installed."""

from __future__ import annotations

import sys

CLI_MODULE = "httpx._main"

UPSTREAM: dict[str, str] = {"httpx._main:main": "callable"}
"""The upstream name relied on (``tests/test_compat.py`` also checks that httpx imports it
under ``except ImportError``). Kept for speed: ``import httpx`` takes 41-45 ms instead of
72-78 ms (``python -X importtime``), on every ``geo-agent`` start."""


def skip_cli_import() -> None:
    """Let ``import httpx`` skip loading its command-line client (about 80 ms of imports).

    httpx imports it inside ``try``/``except ImportError`` and falls back to a ``main`` that
    says the CLI is not installed; a ``None`` entry in ``sys.modules`` takes that fallback.
    For processes that never run httpx's own CLI (the ``geo-agent`` commands) and only
    before httpx is first imported.
    """
    if "httpx" not in sys.modules:
        sys.modules.setdefault(CLI_MODULE, None)  # type: ignore[arg-type]
