"""Traces over HTTP: the request's server span is the parent of the reply's ``invoke_agent``
span (and so of its ``chat`` and ``execute_tool`` spans), in the trace of the incoming
``traceparent``. In process with the SDK's in-memory exporter; then a real ``geo-agent serve``
configured only by the ``OTEL_*`` variables, exporting OTLP/HTTP to a collector of the test's."""

from __future__ import annotations

import threading
import uuid

import httpx
from aiohttp import web
from bailian_geo_agent.agent import Settings, StreamChatService
from bailian_geo_agent.agent.server.app import create_app
from bailian_geo_agent.agent.serving import ServerSettings

from tests.fakes.dashscope import ToolCall, tool_then_answer
from tests.fakes.loopback import LoopbackServer
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.server.conftest import TOKEN_A, server_env, start_server
from tests.server.helpers import check_reply, read_sse
from tests.test_tracing import city_weather, spans, tree  # noqa: F401 - the fixture

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


async def test_the_request_span_is_the_replys_parent(fake_dashscope, spans):  # noqa: F811
    fake_dashscope.responder = tool_then_answer(
        [ToolCall("city_weather", {"city": "杭州"}, id="call_9")],
        answer=lambda results: "杭州今天" + results[0])
    service = StreamChatService(Settings(api_key=FAKE_API_KEY,
                                         base_url=fake_dashscope.compatible_base_url,
                                         max_retries=0, session_store_url="memory://"),
                                tools=[city_weather])
    app = create_app(service, ServerSettings(), close_service=True)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    sid = str(uuid.uuid4())
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        response = await client.post("/v1/chat/stream",
                                     json={"message": "杭州天气", "session_id": sid},
                                     headers={"traceparent": TRACEPARENT})
        assert response.status_code == 200
        assert "event: stream_end" in response.text
        missing = await client.get(f"/v1/sessions/{uuid.uuid4()}")  # a second request: 404
    await service.aclose()

    finished = spans.get_finished_spans()
    by_name = {s.name: s for s in finished}
    http = by_name["POST /v1/chat/stream"]
    assert tree(finished)["POST /v1/chat/stream"] == ["invoke_agent bailian-geo-agent"]
    assert tree(finished)["invoke_agent bailian-geo-agent"] == [
        "chat qwen-plus", "execute_tool city_weather", "chat qwen-plus"]
    reply = [s for s in finished if s.context.trace_id == int(TRACE_ID, 16)]
    assert len(reply) == 5  # the incoming trace: HTTP, invoke_agent, chat, tool, chat
    assert http.parent is not None and http.parent.span_id == int(PARENT_ID, 16)
    assert http.parent.is_remote
    assert http.kind.name == "SERVER"
    assert dict(http.attributes) == {
        "http.request.method": "POST", "url.path": "/v1/chat/stream", "url.scheme": "http",
        "network.protocol.version": "1.1", "http.route": "/v1/chat/stream",
        "http.response.status_code": 200}
    assert by_name["invoke_agent bailian-geo-agent"].attributes["gen_ai.conversation.id"] == sid
    assert by_name["execute_tool city_weather"].attributes["gen_ai.tool.call.id"] == "call_9"
    assert missing.status_code == 404
    other = by_name["GET /v1/sessions/{session_id}"]
    assert other.parent is None and other.context.trace_id != int(TRACE_ID, 16)
    assert other.attributes["http.response.status_code"] == 404
    assert "error.type" not in other.attributes  # a 4xx is the client's, not a server error


class Collector(LoopbackServer):
    """An OTLP/HTTP trace receiver: ``POST /v1/traces`` (protobuf), every span kept."""

    thread_name = "otlp-collector"

    def __init__(self) -> None:
        super().__init__()
        self.spans: list = []
        self.resources: list[dict] = []
        self.received = threading.Event()

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        return app

    async def _traces(self, request: web.Request) -> web.Response:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        export = ExportTraceServiceRequest.FromString(await request.read())
        for resource_spans in export.resource_spans:
            self.resources.append({a.key: a.value.string_value
                                   for a in resource_spans.resource.attributes})
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend(scope_spans.spans)
        self.received.set()
        return web.Response(body=ExportTraceServiceResponse().SerializeToString(),
                            content_type="application/x-protobuf")


async def test_serve_exports_through_the_otel_variables(fake_dashscope_server, fake_dashscope,
                                                       tmp_path):
    """Only ``OTEL_EXPORTER_OTLP_ENDPOINT`` set: ``geo-agent serve`` sends its spans (batched,
    the last ones when it stops) to the collector, in the caller's trace."""
    collector = Collector().start()
    try:
        env = server_env(fake_dashscope_server.compatible_base_url, tmp_path,
                         OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.port}")
        fake_dashscope.responder = tool_then_answer([ToolCall("map_clear", {}, id="call_m")],
                                                    answer=lambda results: "地图已清空")
        server = start_server(tmp_path, env)
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                events = await read_sse(client, "/v1/chat/stream", {"message": "清空地图"},
                                        {"Authorization": f"Bearer {TOKEN_A}",
                                         "traceparent": TRACEPARENT})
            assert check_reply(events) == "地图已清空"
        finally:
            server.stop()  # SIGTERM: the provider's shutdown flushes the batch
        assert collector.received.wait(10), server.logs()[-3000:]
    finally:
        collector.stop()
    names = sorted(s.name for s in collector.spans)
    assert names == ["POST /v1/chat/stream", "chat qwen-plus", "chat qwen-plus",
                     "execute_tool map_clear", "invoke_agent bailian-geo-agent"], names
    assert {s.trace_id.hex() for s in collector.spans} == {TRACE_ID}
    by_id = {s.span_id: s.name for s in collector.spans}
    parents = {s.name: by_id.get(s.parent_span_id, s.parent_span_id.hex())
               for s in collector.spans}
    assert parents == {"POST /v1/chat/stream": PARENT_ID,
                       "invoke_agent bailian-geo-agent": "POST /v1/chat/stream",
                       "chat qwen-plus": "invoke_agent bailian-geo-agent",
                       "execute_tool map_clear": "invoke_agent bailian-geo-agent"}
    assert collector.resources[0]["service.name"] == "bailian-geo-agent"


async def test_mcp_exports_its_tool_spans_through_the_otel_variables(fake_amap, tmp_path):
    """``geo-agent mcp`` (stdio) with only ``OTEL_EXPORTER_OTLP_ENDPOINT`` set: a tool call
    whose ``_meta`` carries a ``traceparent`` reaches the collector in that trace, flushed
    when the client closes the session."""
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    from tests.mcp.conftest import GEO_AGENT, ROOT
    from tests.mcp.conftest import server_env as mcp_env

    collector = Collector().start()
    try:
        env = mcp_env(fake_amap, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.port}")
        params = StdioServerParameters(command=GEO_AGENT, args=["mcp"], env=env, cwd=ROOT)
        with (tmp_path / "mcp.log").open("w") as errlog:
            async with Client(stdio_client(params, errlog=errlog)) as session:
                result = await session.call_tool("map_clear", {},
                                                 meta={"traceparent": TRACEPARENT})
                assert not result.is_error
        assert collector.received.wait(15), (tmp_path / "mcp.log").read_text()[-3000:]
    finally:
        collector.stop()
    [span] = collector.spans
    assert span.name == "execute_tool map_clear"
    assert span.trace_id.hex() == TRACE_ID and span.parent_span_id.hex() == PARENT_ID
