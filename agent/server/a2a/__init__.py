"""A2A (agent-to-agent, ``a2a-sdk``): the geo agent as an agent other agents call.

- ``GET /.well-known/agent-card.json``: the agent card (name, description, one skill per geo
  tool, streaming, the bearer scheme, the JSON-RPC endpoint's URL from
  ``GEO_AGENT_PUBLIC_URL`` or the request). Public, as A2A expects: a caller reads it to learn
  how to authenticate; it names no session and changes nothing.
- ``POST /a2a``: A2A's JSON-RPC binding, 1.0 (``SendMessage``, ``SendStreamingMessage``,
  ``GetTask``, ``ListTasks``, ``CancelTask``, ``SubscribeToTask``) and 0.3 (``message/send``,
  ``message/stream``, ``tasks/get``, ``tasks/cancel``, ...), served by the SDK's own request
  handler behind the API's bearer tokens, limits and Host/Origin rules (401/429 as on every
  route).

Each message is one task running one reply (``ServerState.start_reply``, as the chat routes
do). The A2A context id names the caller's session (``session_for_context``: the same context
id of two tokens never meets); tasks belong to the token that made them. ``A2AAdapter`` turns
the reply's typed events into A2A events: the first is the ``Task`` (working, its metadata the
session and message ids), the answer's text streams as the ``answer`` artifact, map commands
as data parts of the ``map_commands`` artifact (the typed command dicts), hand-off links and web
sources as the ``links`` and ``sources`` artifacts, each tool's start and end as a working
status update carrying the event as a data part; the reply ends ``completed`` (its token usage
in the status metadata), ``failed`` with the reply's error text, or ``canceled`` after
``CancelTask`` (which stops the reply and closes its model request). A request refused before
its reply began (an empty or too long message, a limit, a draining server) is a ``rejected``
(4xx) or ``failed`` (5xx) task whose status message says why. Tasks live in this process until
``GEO_AGENT_STREAM_TTL`` seconds after they end (a client that leaves may ``SubscribeToTask`` or
``GetTask`` here); the reply runs on when a streaming client leaves, like the chat routes'
resumable replies.

The routes are here; the SDK's side (``executor``) is imported at the first A2A request.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from bailian_geo_agent.agent import telemetry
from bailian_geo_agent.agent.server.state import ERRORS, Caller, State
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

if TYPE_CHECKING:
    from bailian_geo_agent.agent.server.a2a.executor import A2AService

A2A_PATH = "/a2a"
"""The JSON-RPC endpoint's path."""
CARD_PATH = "/.well-known/agent-card.json"
"""Where the agent card is served (the SDK's ``AGENT_CARD_WELL_KNOWN_PATH``)."""

router = APIRouter(tags=["a2a"])


class _Lazy:
    """The app's ``A2AService``, made (the SDK imported, off the event loop) at first use."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._lock = asyncio.Lock()
        self.service: A2AService | None = None

    async def get(self) -> A2AService:
        if self.service is None:
            async with self._lock:
                if self.service is None:
                    executor = await asyncio.to_thread(_import_executor)
                    self.service = executor.A2AService(self._app.state.geo_agent, A2A_PATH)
        return self.service


def _import_executor() -> Any:
    if not telemetry.enabled():
        # Without a tracer provider the SDK's tracing decorators (a dozen per A2A event, ~40 us
        # of CPU each event) record nothing; its own switch, read when the SDK is imported.
        # An operator's value stands.
        os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")
    from bailian_geo_agent.agent.server.a2a import executor

    return executor


def _a2a(request: Request) -> _Lazy:
    lazy: _Lazy = request.app.state.geo_agent_a2a
    return lazy


@router.get(CARD_PATH, summary="The A2A agent card (public)")
async def card(request: Request) -> JSONResponse:
    """The A2A agent card: skills, streaming, the bearer scheme and the JSON-RPC endpoint.
    Public, as A2A expects (a caller reads it to learn how to authenticate)."""
    service = await _a2a(request).get()
    return JSONResponse(await service.card(request))


@router.post(A2A_PATH, summary="A2A JSON-RPC 2.0 (1.0 and 0.3 methods)", responses={
    200: {"content": {"application/json": {}, "text/event-stream": {}},
          "description": "a JSON-RPC response, or for SendStreamingMessage / message/stream "
                         "an SSE stream of them"},
    **{k: v for k, v in ERRORS.items() if k in (401, 413, 429)}})
async def rpc(request: Request, identity: Caller, state: State) -> Response:
    """A2A over JSON-RPC: ``SendMessage``/``SendStreamingMessage`` (``message/send``/
    ``message/stream``), ``GetTask``, ``CancelTask``, ``SubscribeToTask``... with the API's
    bearer token."""
    service = await _a2a(request).get()
    return await service.rpc(request, identity)


def install_a2a(app: FastAPI) -> None:
    """Serve A2A on ``app`` (made by ``create_app``; its ``ServerState`` is
    ``app.state.geo_agent``)."""
    lazy = app.state.geo_agent_a2a = _Lazy(app)
    app.include_router(router)
    serve = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        try:
            async with serve(app) as value:  # the app's own: replies drain there
                yield value
        finally:
            if lazy.service is not None:
                await lazy.service.aclose()

    app.router.lifespan_context = lifespan
