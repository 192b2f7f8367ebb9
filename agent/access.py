"""The one bearer-token check of the front doors (``geo-agent serve`` and ``geo-agent mcp``).

Only SHA-256 hashes of the tokens are kept; a token is never logged, stored or echoed back. A
refused request gets one answer everywhere: 401, a ``WWW-Authenticate: Bearer`` challenge and
the body ``{"type": "error", "error": <text from the catalogue>}``. Failed checks are counted per
client address: an address with too many in the last minute gets 429 with ``Retry-After`` (even
with a right token) until the oldest of them is a minute old.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from bailian_geo_agent.agent.serving import DEFAULT_AUTH_FAILURES_PER_MINUTE
from bailian_geo_agent.prompts.catalogue import text

WINDOW_SECONDS = 60.0
_SWEEP_ABOVE = 4096  # addresses remembered before the expired ones are swept out


def token_hash(token: str) -> str:
    """The stored form of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Refused(Exception):
    """A request the bearer check turns away: answer it with ``status``, ``headers``, ``body``."""

    status = 401

    def __init__(self, message: str, headers: dict[str, str]) -> None:
        super().__init__(message)
        self.text = message
        self.headers = headers

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer (the shape of every error answer)."""
        return {"type": "error", "error": self.text}

    def body_bytes(self) -> bytes:
        """``body()`` encoded as UTF-8 JSON."""
        return json.dumps(self.body(), ensure_ascii=False).encode("utf-8")


class Unauthorized(Refused):
    """A request without a valid bearer token: 401 with a ``WWW-Authenticate`` challenge."""

    def __init__(self, message: str, challenge: str) -> None:
        super().__init__(message, {"WWW-Authenticate": challenge})


class Throttled(Refused):
    """A request from an address with too many failed authentications: 429, ``Retry-After``."""

    status = 429

    def __init__(self, limit: int, wait: int) -> None:
        super().__init__(text("auth_throttled", limit=limit, wait=wait),
                         {"Retry-After": str(wait)})


class FailureThrottle:
    """At most ``per_minute`` failed authentications per client address in any minute
    (0: no throttle); an address over it is refused until its oldest failure is a minute old."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def check(self, address: str) -> None:
        """``Throttled`` if ``address`` may not try now."""
        failures = self._failures.get(address)
        if not self.per_minute or failures is None:
            return
        now = self._clock()
        while failures and failures[0] <= now - WINDOW_SECONDS:
            failures.popleft()
        if not failures:
            del self._failures[address]
        elif len(failures) >= self.per_minute:
            wait = max(1, math.ceil(failures[0] + WINDOW_SECONDS - now))
            raise Throttled(self.per_minute, wait)

    def failed(self, address: str) -> None:
        """Count one failed authentication from ``address``."""
        if not self.per_minute:
            return
        now = self._clock()
        if len(self._failures) >= _SWEEP_ABOVE:  # many addresses: forget the quiet ones
            for key in [k for k, v in self._failures.items() if v[-1] <= now - WINDOW_SECONDS]:
                del self._failures[key]
        # Only the last ``per_minute`` matter: an address over the limit is not checked.
        self._failures.setdefault(address, deque(maxlen=self.per_minute)).append(now)


class BearerCheck:
    """Checks ``Authorization: Bearer <token>`` header values against the configured tokens."""

    def __init__(self, tokens: Iterable[str],
                 failures_per_minute: int = DEFAULT_AUTH_FAILURES_PER_MINUTE) -> None:
        self._hashes = {token_hash(t) for t in tokens if t}
        self.throttle = FailureThrottle(failures_per_minute)

    @property
    def enabled(self) -> bool:
        """Whether requests must carry a token (some token is configured)."""
        return bool(self._hashes)

    def check(self, authorization: str | None, address: str | None = None) -> str:
        """The hash of the valid token in ``authorization`` (a header's value), or ``Refused``:
        ``Unauthorized``, or ``Throttled`` when ``address`` (the client's) sent too many wrong
        tokens lately (a missing token is not counted: it guesses nothing)."""
        if address is not None:
            self.throttle.check(address)
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(text("token_missing"), "Bearer")
        digest = token_hash(token)
        # Compare with every hash, so the time taken does not tell which one matched.
        if not any([hmac.compare_digest(digest, known) for known in self._hashes]):
            if address is not None:
                self.throttle.failed(address)
            raise Unauthorized(text("token_invalid"), 'Bearer error="invalid_token"')
        return digest
