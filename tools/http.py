"""The async HTTP client a toolkit's providers share, usable from sync and async code.

Each ``GeoToolkit`` owns one (``HttpClient.from_config``), with its own timeout, User-Agent and
response cap. Its requests run on a private event loop in a daemon thread, which owns a single
``httpx.AsyncClient`` (connection reuse, timeouts). ``await client.get_json(...)`` works from any
event loop, and sync code (``BaseTool.invoke``) calls ``client.run(coroutine)``. This keeps one
connection pool per toolkit no matter how many loops or threads call its tools.

Errors become ``GeoProviderError`` subclasses with user-facing messages built here: the request
URL (which may carry an API key) never appears in a message, a log line or an exception chain.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import threading
import time
import weakref
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import httpx
from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.errors import (
    InvalidKeyError,
    InvalidParamsError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
)
from bailian_geo_agent.tools.infra import ResponseTooLarge, read_capped
from bailian_geo_agent.tools.infra import user_agent as package_user_agent
from bailian_geo_agent.tools.security import RedactSecrets, redact

if TYPE_CHECKING:
    from bailian_geo_agent.tools.config import GeoConfig

logger = logging.getLogger(__name__)

# The one redactor; the old names stay importable from here.
RedactKeysFilter = RedactSecrets
"""Logging filter removing API keys from URLs (httpx logs every request URL at INFO)."""

_REDACTOR = RedactSecrets()
for _name in ("httpx", "httpcore"):
    if not any(isinstance(f, RedactSecrets) for f in logging.getLogger(_name).filters):
        logging.getLogger(_name).addFilter(_REDACTOR)

T = TypeVar("T")
DEFAULT_MAX_RESPONSE_BYTES = 2 * 1024 * 1024
DEFAULT_USER_AGENT = package_user_agent()


class HttpClient:
    """Shared HTTP access for providers.

    Args:
        timeout: seconds for reading an answer (connect timeout is at most 5 s).
        user_agent: identifying User-Agent (Nominatim's usage policy requires one).
        retries: extra attempts after a connection failure or a 5xx answer.
        retry_delay: seconds before such a retry.
        transport: an ``httpx.AsyncBaseTransport`` for tests (e.g. ``httpx.MockTransport``).
        max_response_bytes: largest body read; a longer one is a ``ProviderUnavailableError``.
    """

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        user_agent: str = DEFAULT_USER_AGENT,
        retries: int = 1,
        retry_delay: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.user_agent = user_agent
        self.retries = retries
        self.retry_delay = retry_delay
        self._transport = transport
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: httpx.AsyncClient | None = None
        self._next_slot: dict[str, float] = {}
        self._throttle_locks: dict[str, asyncio.Lock] = {}
        self.requests_sent = 0

    @classmethod
    def from_config(cls, config: GeoConfig, **kwargs: Any) -> HttpClient:
        """A new client with ``config``'s timeout, User-Agent and response cap."""
        return cls(
            timeout=config.http_timeout,
            user_agent=config.user_agent or DEFAULT_USER_AGENT,
            max_response_bytes=config.max_response_bytes,
            **kwargs,
        )

    # ------------------------------------------------------------------ loop plumbing

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed() or not self._loop.is_running():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=serve, name="geo-tools-http", daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread, self._client = loop, thread, None
                self._throttle_locks = {}
                # A client dropped without close() must not leave its thread running.
                weakref.finalize(self, _stop_loop, loop)
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the client's loop and wait for it (for sync callers)."""
        loop = self._ensure_loop()
        if _running_loop() is loop:
            coro.close()
            raise RuntimeError("HttpClient.run() called from its own event loop; await instead")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the client's loop from any event loop (cancellation propagates)."""
        loop = self._ensure_loop()
        if _running_loop() is loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=min(5.0, self.timeout)),
                headers={"User-Agent": self.user_agent, "Accept": "application/json"},
                transport=self._transport,
                follow_redirects=True,
            )
        return self._client

    # ------------------------------------------------------------------ requests

    async def get_json(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        *,
        service: str = "",
        min_interval: float = 0.0,
        error_json: bool = False,
    ) -> Any:
        """GET ``url`` and decode JSON. ``min_interval`` spaces requests to the same host
        (application-wide, e.g. 1.0 for Nominatim). ``service`` names the provider in errors
        (default: "the map service" in the current language).
        ``error_json``: return the JSON body of a 400/404 answer instead of raising (for APIs
        such as OSRM that explain errors in the body)."""
        return await self.arun(
            self._request(
                "GET",
                url,
                params=params,
                data=None,
                service=service,
                gap=min_interval,
                error_json=error_json,
            )
        )

    async def get_bytes(
        self, url: str, params: Mapping[str, Any] | None = None, *, service: str = ""
    ) -> tuple[bytes, str]:
        """GET ``url``: its body and ``Content-Type`` (images: map tiles, static maps), with the
        same timeouts, response cap and errors as ``get_json``."""
        result: tuple[bytes, str] = await self.arun(
            self._request("GET", url, params=params, data=None, service=service, gap=0.0,
                          raw=True)
        )
        return result

    async def post_form_json(
        self, url: str, data: Mapping[str, Any], *, service: str = ""
    ) -> Any:
        """POST a form body and decode the JSON answer (Overpass)."""
        return await self.arun(
            self._request("POST", url, params=None, data=data, service=service, gap=0.0)
        )

    async def post_json(
        self, url: str, body: Mapping[str, Any], *, service: str = "", error_json: bool = False
    ) -> Any:
        """POST a JSON body and decode the JSON answer (Valhalla); ``error_json`` as in
        ``get_json``."""
        return await self.arun(self._request("POST", url, params=None, data=None,
                                             service=service, gap=0.0, error_json=error_json,
                                             json_body=body))

    async def _wait_turn(self, host: str, gap: float) -> None:
        lock = self._throttle_locks.setdefault(host, asyncio.Lock())
        async with lock:
            now = time.monotonic()
            wait = self._next_slot.get(host, 0.0) - now
            if wait > 0:
                await asyncio.sleep(wait)
            self._next_slot[host] = max(now, self._next_slot.get(host, 0.0)) + gap

    async def _request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        data: Mapping[str, Any] | None,
        service: str,
        gap: float,
        error_json: bool = False,
        raw: bool = False,
        json_body: Mapping[str, Any] | None = None,
    ) -> Any:
        client = self._get_client()
        service = service or message_text("geo_map_service")
        parts = urlsplit(url)
        where = f"{parts.netloc}{parts.path}"
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            if gap > 0:
                await self._wait_turn(parts.netloc, gap)
            self.requests_sent += 1
            try:
                if method == "GET":
                    accept = {"Accept": "image/png,image/*;q=0.9,*/*;q=0.5"} if raw else None
                    request = client.build_request("GET", url, params=clean, headers=accept)
                elif json_body is not None:
                    request = client.build_request("POST", url, json=dict(json_body))
                else:
                    request = client.build_request("POST", url, data=dict(data or {}))
                response = await client.send(request, stream=True)
                try:
                    body = await _read_body(response, self.max_response_bytes)
                finally:
                    await response.aclose()
            except ResponseTooLarge:
                logger.warning("%s %s answered more than %d bytes", method, where,
                               self.max_response_bytes)
                raise ProviderUnavailableError(message_text(
                    "geo_response_too_large", service=service, limit=self.max_response_bytes
                )) from None
            except httpx.TimeoutException:
                logger.warning("%s %s timed out", method, where)
                raise ProviderTimeoutError(message_text("geo_timeout", service=service)) from None
            except httpx.TransportError as exc:
                logger.warning("%s %s failed: %s", method, where, type(exc).__name__)
                if attempt < self.retries:
                    attempt += 1
                    await asyncio.sleep(self.retry_delay)
                    continue
                raise ProviderUnavailableError(
                    message_text("geo_unreachable", service=service)
                ) from None
            status = response.status_code
            logger.debug("%s %s -> %s", method, where, status)
            if status >= 500 and attempt < self.retries:
                attempt += 1
                await asyncio.sleep(self.retry_delay)
                continue
            if error_json and status in (400, 404):
                with contextlib.suppress(ValueError):
                    return json.loads(body)
            _raise_for_status(status, service)
            if raw:
                return body, response.headers.get("content-type", "")
            try:
                return json.loads(body)
            except ValueError:
                raise ProviderUnavailableError(
                    message_text("geo_unparsable", service=service)
                ) from None

    # ------------------------------------------------------------------ lifecycle

    async def aclose(self) -> None:
        """Close the connection pool and stop the private loop."""
        loop, client = self._loop, self._client
        if loop is None:
            return
        if client is not None:
            await self.arun(client.aclose())
        self._stop()

    def close(self) -> None:
        """Sync ``aclose``."""
        loop, client = self._loop, self._client
        if loop is None:
            return
        if client is not None and loop.is_running():
            self.run(client.aclose())
        self._stop()

    def _stop(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop, self._thread, self._client = None, None, None
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)
        if loop is not None and not loop.is_running():
            loop.close()


async def _read_body(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    length = int(declared) if declared.isdigit() else None
    return await read_capped(response.aiter_bytes(), limit, length)


def _stop_loop(loop: asyncio.AbstractEventLoop) -> None:
    if not loop.is_closed():
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _raise_for_status(status: int, service: str) -> None:
    if status < 400:
        return
    if status == 429:
        raise RateLimitedError(message_text("geo_http_429", service=service))
    if status in (401, 403):
        raise InvalidKeyError(message_text("geo_http_denied", service=service, status=status))
    if status == 400:
        raise InvalidParamsError(message_text("geo_http_400", service=service))
    if status == 504:
        raise ProviderTimeoutError(message_text("geo_http_504", service=service))
    raise ProviderUnavailableError(
        message_text("geo_http_unavailable", service=service, status=status)
    )


_default: HttpClient | None = None
_default_lock = threading.Lock()


def shared_http_client(
    *,
    timeout: float = 10.0,
    user_agent: str | None = None,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> HttpClient:
    """A process-wide client for callers that want one (settings apply on the first call,
    which creates it). Toolkits and providers never use it: each builds its own from its
    settings (``HttpClient.from_config``)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = HttpClient(
                timeout=timeout,
                user_agent=user_agent or DEFAULT_USER_AGENT,
                max_response_bytes=max_response_bytes,
            )
            atexit.register(_default.close)
        return _default


def client_for(provider: object) -> HttpClient:
    """The ``HttpClient`` ``provider`` uses, else the process-wide shared one."""
    return getattr(provider, "http", None) or shared_http_client()


__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_USER_AGENT",
    "HttpClient",
    "RedactKeysFilter",
    "ResponseTooLarge",
    "client_for",
    "redact",
    "shared_http_client",
]
