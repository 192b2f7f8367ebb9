"""httpx's optional command-line client, which ``import httpx`` loads whenever its
dependencies (click, rich, pygments) happen to be installed."""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

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


class _DeferredCli(types.ModuleType):
    """Stands in for ``httpx._main`` until something uses it; then the real module is loaded
    and used (``httpx.main()`` runs the real CLI)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(_real_cli(), name)


def _real_cli() -> types.ModuleType:
    if isinstance(sys.modules.get(CLI_MODULE), _DeferredCli):
        del sys.modules[CLI_MODULE]
    return importlib.import_module(CLI_MODULE)


def _main(*args: Any, **kwargs: Any) -> Any:
    return _real_cli().main(*args, **kwargs)


def defer_cli_import() -> None:
    """Let ``import httpx`` leave its command-line client unloaded until used (about 70 ms of a
    library's cold start: click, rich, pygments), for a process the library does not own.

    Unlike ``skip_cli_import`` nothing changes for the host: ``httpx.main`` and
    ``httpx._main`` load and run the real CLI when touched. Only before httpx is first imported
    (langgraph's SDK imports it with the agent graph).
    """
    if "httpx" not in sys.modules and CLI_MODULE not in sys.modules:
        stub = _DeferredCli(CLI_MODULE)
        stub.main = _main  # type: ignore[attr-defined]
        sys.modules[CLI_MODULE] = stub
