"""langgraph-checkpoint-postgres's cursor, for the one SQL query its public API lacks."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any


def postgres_cursor(checkpointer: Any) -> AbstractAsyncContextManager[Any]:
    """A dict-row cursor of an ``AsyncPostgresSaver`` (for listing threads by age)."""
    cursor: AbstractAsyncContextManager[Any] = checkpointer._cursor()
    return cursor
