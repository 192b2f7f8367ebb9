"""``SESSION_STORE_URL``: the default, the SQLite path a URL names, and a URL fit to show."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from bailian_geo_agent.tools.security import redact

APP_DIR_NAME = "bailian-geo-agent"
SQLITE_PREFIX = "sqlite:///"


def default_store_url() -> str:
    """``sqlite:///`` in ``$XDG_DATA_HOME/bailian-geo-agent`` (``~/.local/share`` by default)."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"{SQLITE_PREFIX}{Path(data_home) / APP_DIR_NAME / 'sessions.sqlite'}"


def store_url(configured: str | None) -> str:
    """The URL in use: ``configured``, or the default SQLite file when unset."""
    return (configured or default_store_url()).strip()


def scheme(url: str) -> str:
    """The URL's scheme, lower case (``postgres`` for both PostgreSQL spellings)."""
    name = urlsplit(url).scheme.lower()
    return "postgres" if name == "postgresql" else name


def sqlite_path(url: str) -> Path | None:
    """The file a ``sqlite:///`` URL names (SQLAlchemy's convention: ``sqlite:///relative.db``
    from the working directory, ``sqlite:////absolute/path.db``), ``None`` when it names none."""
    path = url[len(SQLITE_PREFIX):] if url.startswith(SQLITE_PREFIX) else ""
    return Path(path).expanduser() if path else None


def display_url(url: str) -> str:
    """``url`` with any password removed, for messages and logs."""
    return redact(url)  # the one redactor masks a URL's password
