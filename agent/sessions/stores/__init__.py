"""Session stores chosen by ``SESSION_STORE_URL``, all LangGraph checkpointers.

- ``sqlite:///path/to/sessions.sqlite`` (default, under the user's data directory): survives
  restarts, nothing to install; run off the event loop (``sqlite``).
- ``memory://``: ephemeral, gone with the process (``memory``).
- ``postgresql://user:pass@host/db``: shared by several service instances, one writer per
  session and messages in arrival order across them (``postgres``, ``pg_queue``).

Each store also serializes replies per session (``hold``), so a session's history is never
written by two replies at once, while different sessions never wait on each other; and keeps
the sessions' owners (which API token created each) beside them (``base``).
"""

from __future__ import annotations

from bailian_geo_agent.agent.errors import ConfigurationError
from bailian_geo_agent.agent.sessions.stores.base import Claim, SessionOwners, SessionStore
from bailian_geo_agent.agent.sessions.stores.memory import MemoryStore
from bailian_geo_agent.agent.sessions.stores.postgres import PostgresStore
from bailian_geo_agent.agent.sessions.stores.sqlite import SqliteStore
from bailian_geo_agent.agent.sessions.stores.urls import (
    default_store_url,
    display_url,
    scheme,
    sqlite_path,
    store_url,
)
from bailian_geo_agent.prompts.catalogue import text

__all__ = [
    "Claim",
    "MemoryStore",
    "PostgresStore",
    "SessionOwners",
    "SessionStore",
    "SqliteStore",
    "default_store_url",
    "display_url",
    "open_store",
]


def open_store(url: str | None, lock_timeout: float = 60.0) -> SessionStore:
    """The store for ``url`` (``None``: the default SQLite file)."""
    url = store_url(url)
    kind = scheme(url)
    if kind == "memory":
        return MemoryStore(url, lock_timeout)
    if kind == "sqlite":
        path = sqlite_path(url)
        # Folders of the default or an absolute path are created; never below the working
        # directory by surprise (a relative path's folder must exist).
        return SqliteStore(url, lock_timeout, create_folder=path is not None and path.is_absolute())
    if kind == "postgres":
        return PostgresStore(url, lock_timeout)
    raise ConfigurationError(text("store_url_invalid", url=repr(display_url(url))))
