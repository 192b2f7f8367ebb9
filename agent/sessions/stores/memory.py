"""``memory://``: sessions and their owners in this process, gone with it."""

from __future__ import annotations

from typing import Any

from bailian_geo_agent.agent.sessions.stores.base import SessionStore
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver


class MemoryStore(SessionStore):
    """Sessions in this process's memory, or in a checkpointer the caller manages (its
    owners are then kept in this process)."""

    def __init__(
        self,
        url: str = "memory://",
        lock_timeout: float = 60.0,
        saver: BaseCheckpointSaver[Any] | None = None,
    ) -> None:
        super().__init__(url, lock_timeout)
        self._saver = saver if saver is not None else InMemorySaver()
        self._owners: dict[str, str] = {}

    async def checkpointer(self) -> BaseCheckpointSaver[Any]:
        return self._saver

    async def claim_owner(self, session_id: str, owner: str) -> bool:
        return self._owners.setdefault(session_id, owner) == owner

    async def is_owner(self, session_id: str, owner: str) -> bool:
        return self._owners.get(session_id) == owner

    async def forget_owner(self, session_id: str) -> None:
        self._owners.pop(session_id, None)
