"""Imported for its effect, first thing by ``agent.service`` (before the agent graph's imports
bring httpx in): httpx's command-line client stays unloaded until something uses it
(``agent._compat.httpx.defer_cli_import``; about 70 ms of a library's cold start)."""

from __future__ import annotations

from bailian_geo_agent.agent._compat.httpx import defer_cli_import

UPSTREAM: dict[str, str] = {}
"""None of its own: the name it relies on is ``agent._compat.httpx``'s (``httpx._main:main``)."""

defer_cli_import()
