"""Connections of ``geo-agent serve``: no client holds a connection, or the server's files, for
nothing.

uvicorn's HTTP/1.1 protocol (h11) with what it lacks (``Guard.protocol()`` is the class given
as ``uvicorn.Config(http=...)``):

* **header timeout**: a connection sends a whole request head within ``header_timeout`` seconds
  of being accepted, or of the first byte of its next request, else it is closed (a slowloris
  client, or one that sends nothing). Idle keep-alive connections are uvicorn's: closed
  ``idle_timeout`` seconds after a response (``timeout_keep_alive``).
* **send timeout**: a connection whose client stops reading (the transport's writes paused, its
  buffer over ``WRITE_BUFFER_HIGH``) for ``send_timeout`` seconds is aborted; the reply runs on
  into its log, and the client can resume it.
* **connection cap**: beyond ``max_connections`` open connections a new one is answered at once
  with 503, ``Retry-After`` and the service's JSON error body, then closed.

``AcceptErrors`` lets asyncio's "socket.accept() out of system resource" (too many open files)
through once per burst instead of once per accept attempt.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import resource
import time
from collections.abc import Callable
from typing import Any, ClassVar

from bailian_geo_agent.agent._compat.uvicorn import H11Protocol, awaiting_head
from bailian_geo_agent.agent.server.errors import error_body
from bailian_geo_agent.agent.serving import ServerSettings
from bailian_geo_agent.prompts.catalogue import Language, text, use_language

logger = logging.getLogger(__name__)

REFUSED_LINGER = 2.0
"""Seconds a refused connection waits for its client to close before it is aborted."""
WARN_EVERY = 60.0
"""Seconds between two warnings that the connection cap is reached."""
FILES_SPARE = 64
"""Open files kept for what is not a client connection (logs, stores, the fake's peers...)."""
WRITE_BUFFER_HIGH = 16 * 1024
"""Bytes buffered for a connection before its writes pause (asyncio's default: 64 KiB); the
kernel's socket buffers keep a fast client's stream moving meanwhile."""


class Guard:
    """The open connections of one server, and the limits they are held to."""

    def __init__(self, *, header_timeout: float, send_timeout: float, max_connections: int,
                 refusal: str, retry_after: int) -> None:
        self.header_timeout = header_timeout
        self.send_timeout = send_timeout
        self.max_connections = max_connections
        self.open = 0
        """Connections served now."""
        self.refusing = 0
        """Connections being answered 503 now."""
        body = json.dumps(error_body(refusal), ensure_ascii=False).encode()
        self.refusal = (
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nretry-after: %d\r\nconnection: close\r\n\r\n"
            % (len(body), retry_after)) + body
        self._warned = -math.inf

    @classmethod
    def from_settings(cls, settings: ServerSettings, lang: Language) -> Guard:
        """The guard ``settings`` ask for; its 503 body in ``lang``."""
        retry_after = max(1, math.ceil(settings.idle_timeout))  # idle ones are closed by then
        with use_language(lang):
            refusal = text("too_many_connections", wait=retry_after)
        return cls(header_timeout=settings.header_timeout, send_timeout=settings.send_timeout,
                   max_connections=settings.max_connections, refusal=refusal,
                   retry_after=retry_after)

    def protocol(self) -> type[asyncio.Protocol]:
        """The protocol class for ``uvicorn.Config(http=...)``, held to this guard."""
        return type("GuardedH11Protocol", (GuardedProtocol,), {"guard": self})

    def full(self) -> bool:
        """Whether a new connection must be refused."""
        return bool(self.max_connections) and self.open >= self.max_connections

    def warn_full(self) -> None:
        """Say that connections are being refused (once a minute at most)."""
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY:
            self._warned = now
            logger.warning("%d connections open (GEO_AGENT_MAX_CONNECTIONS): new ones are "
                           "answered 503 (said once a minute)", self.open)


def check_open_files(max_connections: int) -> str | None:
    """A warning when the connection cap leaves too few of the process's open files (``ulimit
    -n``) for the rest, so "too many open files" would come before the cap's 503s."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    if max_connections and max_connections <= soft - FILES_SPARE:
        return None
    cap = max_connections or "no cap"
    return (f"GEO_AGENT_MAX_CONNECTIONS ({cap}) leaves fewer than {FILES_SPARE} of the "
            f"{soft} open files (ulimit -n) for the rest: lower it or raise the limit")


class GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol held to ``guard``'s timeouts and cap (see the module doc)."""

    guard: ClassVar[Guard]
    _refused = False
    _head_timer: asyncio.TimerHandle | None = None
    _stall_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        """Serve it, or answer 503 when the cap is reached."""
        self._transport = transport
        guard = self.guard
        if guard.full():
            self._refused = True
            guard.refusing += 1
            guard.warn_full()
            transport.write(guard.refusal)
            transport.write_eof()  # then read (and drop) until the client closes, or abort
            self._head_timer = asyncio.get_running_loop().call_later(
                REFUSED_LINGER, transport.abort)
            return
        guard.open += 1
        super().connection_made(transport)
        # A client that stops reading leaves at most this much (and one write) in our memory.
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH)
        self._watch_head()

    def data_received(self, data: bytes) -> None:
        """Handle ``data``; time the request head while one is coming."""
        if self._refused:
            return
        super().data_received(data)
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection and its timers."""
        for timer in (self._head_timer, self._stall_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._stall_timer = None
        if self._refused:
            self.guard.refusing -= 1
            return
        self.guard.open -= 1
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        """The client reads slower than we write: it has ``send_timeout`` to catch up."""
        super().pause_writing()
        if self._stall_timer is None:
            self._stall_timer = asyncio.get_running_loop().call_later(
                self.guard.send_timeout, self._stalled)

    def resume_writing(self) -> None:
        """The client read again."""
        super().resume_writing()
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def _watch_head(self) -> None:
        transport = self._transport
        if awaiting_head(self) and not transport.is_closing():
            if self._head_timer is None:  # accepted, or the first byte of the next request
                self._head_timer = asyncio.get_running_loop().call_later(
                    self.guard.header_timeout, self._head_timed_out)
        elif self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if awaiting_head(self) and not self._transport.is_closing():
            logger.debug("closed a connection that sent no whole request head in %s s",
                         self.guard.header_timeout)
            self._transport.close()

    def _stalled(self) -> None:
        self._stall_timer = None
        logger.info("dropped a connection that read nothing for %s s (GEO_AGENT_SEND_TIMEOUT)",
                    self.guard.send_timeout)
        self._transport.abort()  # close() would wait for the unread bytes to be sent


class AcceptErrors(logging.Filter):
    """For the ``asyncio`` logger: its "socket.accept() out of system resource" (too many open
    files) once per burst, not once per accept attempt. A burst ends after ``quiet`` seconds
    without one; the first of the next says how many were left out."""

    MESSAGE = "socket.accept() out of system resource"

    def __init__(self, quiet: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.quiet = quiet
        self._clock = clock
        self._last = -math.inf
        self._left_out = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is written."""
        if not (isinstance(record.msg, str) and record.msg.startswith(self.MESSAGE)):
            return True
        now = self._clock()
        last, self._last = self._last, now
        if now - last < self.quiet:
            self._left_out += 1
            return False
        note = f"; {self._left_out} more were left out before" if self._left_out else ""
        self._left_out = 0
        record.msg = (f"{record.msg}\n(repeats are not logged until none came for "
                      f"{self.quiet:g} s{note})")
        return True
