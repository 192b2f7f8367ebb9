"""Limits per caller: requests per minute (the ``limits`` package's moving window), streams at
once (replies and resume readers), and the request body's size (an ASGI middleware, before any
parsing)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from bailian_geo_agent.agent.server.errors import ApiError, error_body
from bailian_geo_agent.prompts.catalogue import text as message_text
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RateLimit:
    """At most ``per_minute`` requests per key in any 60 s window (0: no limit)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._item = RateLimitItemPerMinute(per_minute) if per_minute else None
        self._limiter = MovingWindowRateLimiter(MemoryStorage()) if per_minute else None

    def hit(self, key: str) -> None:
        """Count one request, or ``ApiError`` 429 with ``Retry-After``."""
        if self._limiter is None or self._item is None:
            return
        if self._limiter.hit(self._item, key):
            return
        reset = self._limiter.get_window_stats(self._item, key).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        raise ApiError(
            429,
            message_text("too_many_requests", limit=self.per_minute, wait=wait),
            {"Retry-After": str(wait)},
        )


class ConcurrencyLimit:
    """At most ``limit`` streams at once per key (0: no limit): replies, and readers resuming
    one, alike."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._running: dict[str, int] = {}

    def acquire(self, key: str) -> None:
        """Take one of ``key``'s slots, or ``ApiError`` 429 with ``Retry-After``."""
        count = self._running.get(key, 0)
        if self.limit and count >= self.limit:
            raise ApiError(
                429,
                message_text("too_many_replies", limit=self.limit),
                {"Retry-After": "1"},
            )
        self._running[key] = count + 1

    def hold(self, key: str) -> Callable[[], None]:
        """Take one of ``key``'s slots, or ``ApiError`` 429; calling the answer gives it back
        (the first call only)."""
        self.acquire(key)
        held = [True]

        def release() -> None:
            if held[0]:
                held[0] = False
                self.release(key)

        return release

    def release(self, key: str) -> None:
        """Give back a slot taken with ``acquire``."""
        left = self._running.get(key, 0) - 1
        if left > 0:
            self._running[key] = left
        else:
            self._running.pop(key, None)


class _TooLarge(StarletteHTTPException):
    """Raised from ``receive``: FastAPI passes HTTP exceptions on (others become a 400)."""


class BodySizeLimit:
    """Answers 413 to a request whose body exceeds ``max_bytes`` (declared or actually sent)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _text(self) -> str:
        return message_text("body_too_large", limit=self.max_bytes)

    def _reject(self) -> JSONResponse:
        return JSONResponse(error_body(self._text()), status_code=413)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._reject()(scope, receive, send)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(413, self._text())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject()(scope, receive, send)
