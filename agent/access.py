"""The one bearer-token check of the front doors (``geo-agent serve`` and ``geo-agent mcp``).

Only SHA-256 hashes of the tokens are kept; a token is never logged, stored or echoed back. A
refused request gets one answer everywhere: 401, a ``WWW-Authenticate: Bearer`` challenge and
the body ``{"type": "error", "error": <text from the catalogue>}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any

from bailian_geo_agent.prompts.catalogue import text


def token_hash(token: str) -> str:
    """The stored form of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Unauthorized(Exception):
    """A request without a valid bearer token: answer it with ``status``, ``headers``, ``body``."""

    status = 401

    def __init__(self, message: str, challenge: str) -> None:
        super().__init__(message)
        self.text = message
        self.headers = {"WWW-Authenticate": challenge}

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer (the shape of every error answer)."""
        return {"type": "error", "error": self.text}

    def body_bytes(self) -> bytes:
        """``body()`` encoded as UTF-8 JSON."""
        return json.dumps(self.body(), ensure_ascii=False).encode("utf-8")


class BearerCheck:
    """Checks ``Authorization: Bearer <token>`` header values against the configured tokens."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._hashes = {token_hash(t) for t in tokens if t}

    @property
    def enabled(self) -> bool:
        """Whether requests must carry a token (some token is configured)."""
        return bool(self._hashes)

    def check(self, authorization: str | None) -> str:
        """The hash of the valid token in ``authorization`` (a header's value), or
        ``Unauthorized``."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(text("token_missing"), "Bearer")
        digest = token_hash(token)
        # Compare with every hash, so the time taken does not tell which one matched.
        if not any([hmac.compare_digest(digest, known) for known in self._hashes]):
            raise Unauthorized(text("token_invalid"), 'Bearer error="invalid_token"')
        return digest
