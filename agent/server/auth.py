"""Bearer-token authentication, and who a request is: an owner for sessions, a key for limits.

Only SHA-256 hashes of the tokens are kept in memory and in the session-owner table; a token is
never logged, stored or echoed back.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass

from bailian_geo_agent.agent.server.errors import ApiError
from bailian_geo_agent.prompts.catalogue import text as message_text
from starlette.requests import HTTPConnection

ANONYMOUS = "anonymous"
"""The owner of every session on a server run without tokens (loopback only)."""



def token_hash(token: str) -> str:
    """The stored form of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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

    def __init__(self, tokens: list[str]) -> None:
        self._hashes = {token_hash(t) for t in tokens if t}

    @property
    def enabled(self) -> bool:
        """Whether requests must carry a token."""
        return bool(self._hashes)

    def identify(self, connection: HTTPConnection) -> Identity:
        """The caller of ``connection``, or ``ApiError`` 401."""
        if not self._hashes:
            client = connection.client.host if connection.client else "unknown"
            return Identity(ANONYMOUS, f"ip:{client}")
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, message_text("token_missing"),
                           {"WWW-Authenticate": "Bearer"})
        digest = token_hash(token)
        if not any(hmac.compare_digest(digest, known) for known in self._hashes):
            raise ApiError(401, message_text("token_invalid"),
                           {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return Identity(digest, f"token:{digest}")
