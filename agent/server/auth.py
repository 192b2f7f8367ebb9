"""Who a request is: an owner for sessions, a key for limits (the token check itself is
``agent.access.BearerCheck``, shared with ``geo-agent mcp``).

Only SHA-256 hashes of the tokens are kept in memory and in the session-owner table; a token is
never logged, stored or echoed back.
"""

from __future__ import annotations

from dataclasses import dataclass

from bailian_geo_agent.agent.access import BearerCheck, Refused
from bailian_geo_agent.agent.access import token_hash as token_hash
from bailian_geo_agent.agent.server.errors import ApiError
from bailian_geo_agent.agent.serving import DEFAULT_AUTH_FAILURES_PER_MINUTE
from bailian_geo_agent.tools.security import is_loopback as is_loopback
from starlette.requests import HTTPConnection

ANONYMOUS = "anonymous"
"""The owner of every session on a server run without tokens (loopback only)."""



@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling: ``owner`` owns the sessions it creates, ``limit_key`` is what is limited."""

    owner: str
    limit_key: str


class Authenticator:
    """Checks ``Authorization: Bearer <token>`` against the configured tokens.

    With no tokens configured every caller is ``ANONYMOUS`` (one owner for all sessions) and
    limits apply per client address.
    """

    def __init__(self, tokens: list[str],
                 failures_per_minute: int = DEFAULT_AUTH_FAILURES_PER_MINUTE) -> None:
        self._check = BearerCheck(tokens, failures_per_minute)

    @property
    def enabled(self) -> bool:
        """Whether requests must carry a token."""
        return self._check.enabled

    def identify(self, connection: HTTPConnection) -> Identity:
        """The caller of ``connection``, or ``ApiError`` 401 (429 for a client address with
        too many wrong tokens in the last minute)."""
        client = connection.client.host if connection.client else "unknown"
        if not self._check.enabled:
            return Identity(ANONYMOUS, f"ip:{client}")
        try:
            digest = self._check.check(connection.headers.get("authorization"), client)
        except Refused as refused:
            raise ApiError(refused.status, refused.text, refused.headers) from None
        return Identity(digest, f"token:{digest}")
