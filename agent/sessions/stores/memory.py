"""``memory://``: sessions and their owners in this process, gone with it."""

from __future__ import annotations

from typing import Any

from bailian_geo_agent.agent.sessions.stores.base import Claim, SessionStore
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
        self._counts: dict[str, int] = {}  # sessions per owner, for the cap

    async def checkpointer(self) -> BaseCheckpointSaver[Any]:
        return self._saver

    async def claim_owner(self, session_id: str, owner: str) -> bool:
        return await self.claim_session(session_id, owner) in (Claim.NEW, Claim.OWNED)

    async def claim_session(self, session_id: str, owner: str, max_sessions: int = 0) -> Claim:
        found = self._owners.get(session_id)
        if found is not None:
            return Claim.OWNED if found == owner else Claim.REFUSED
        held = self._counts.get(owner, 0)
        if max_sessions and held >= max_sessions:
            return Claim.FULL
        self._owners[session_id] = owner
        self._counts[owner] = held + 1
        return Claim.NEW

    async def release_owner(self, session_id: str, owner: str) -> None:
        if self._owners.get(session_id) == owner:
            await self.forget_owner(session_id)

    async def is_owner(self, session_id: str, owner: str) -> bool:
        return self._owners.get(session_id) == owner

    async def _orphan_owners(self) -> list[str]:
        if not isinstance(self._saver, InMemorySaver):  # a caller's checkpointer: cannot tell
            return []
        return [sid for sid in self._owners if not self._saver.storage.get(sid)]

    async def _forget_orphan(self, session_id: str) -> None:
        if session_id in await self._orphan_owners():
            await self.forget_owner(session_id)

    async def forget_owner(self, session_id: str) -> None:
        owner = self._owners.pop(session_id, None)
        if owner is not None:
            held = self._counts[owner] - 1
            if held:
                self._counts[owner] = held
            else:
                del self._counts[owner]
