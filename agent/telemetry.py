"""OpenTelemetry traces of replies, per the GenAI semantic conventions.

One ``invoke_agent {agent}`` span per reply, under whatever span is current where the reply
began (the HTTP request's); inside it a ``chat {model}`` span per model call and an
``execute_tool {tool}`` span per tool call, with the conventions' ``gen_ai.*`` attributes
(operation, provider, models, token usage, tool name and call id, ``gen_ai.conversation.id`` =
the session id) and ``error.type`` on failure. Message text and tool arguments and results
only with ``GEO_AGENT_TRACE_CONTENT``.

Tracing is on when a tracer provider is set: by ``configure_from_environment`` (``geo-agent
serve`` and ``geo-agent mcp``, when the standard ``OTEL_*`` variables ask for traces) or by
the application itself (``opentelemetry.trace.set_tracer_provider``). Off, nothing here imports
``opentelemetry`` and a reply pays one dictionary lookup.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer, TracerProvider

logger = logging.getLogger(__name__)

INSTRUMENTATION = "bailian_geo_agent"
"""The instrumentation scope's name."""
AGENT_NAME = "bailian-geo-agent"
"""``gen_ai.agent.name`` of the replies' ``invoke_agent`` spans."""
PROVIDER = "dashscope"
"""``gen_ai.provider.name`` of the service's own model (Alibaba Cloud Bailian/DashScope: not
one of the conventions' listed values, so its own lower-case name)."""

_provider: TracerProvider | None = None  # the one configure_from_environment set up


def enabled() -> bool:
    """Whether spans are recorded: a tracer provider is configured (never imports
    ``opentelemetry``: if nobody has imported it, nobody configured it)."""
    if _provider is not None:
        return True
    api = sys.modules.get("opentelemetry.trace")
    if api is None:
        return False
    current = api.get_tracer_provider()
    return not isinstance(current, api.ProxyTracerProvider | api.NoOpTracerProvider)


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Record spans with ``provider`` rather than the global one (``None``: the global one
    again); for tests and embedders that keep their provider local."""
    global _provider
    _provider = provider


def tracer() -> Tracer:
    """This package's tracer, from the provider in use."""
    from bailian_geo_agent.tools.infra import version
    from opentelemetry import trace

    provider = _provider or trace.get_tracer_provider()
    return provider.get_tracer(INSTRUMENTATION, version())


# -- the SDK for serve and mcp ---------------------------------------------------------------

def wanted_exporters() -> list[str]:
    """The span exporters the OpenTelemetry SDK's standard variables ask for:
    ``OTEL_TRACES_EXPORTER``'s names, or ``otlp`` when only an OTLP endpoint is set; none when
    ``OTEL_SDK_DISABLED`` is true or the exporter is ``none``."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip().lower() for n in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    names = [n for n in names if n]
    if not names and (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
                      or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()):
        names = ["otlp"]
    return [] if "none" in names else names


def configure_from_environment() -> Callable[[], None] | None:
    """Set up the OpenTelemetry SDK (a ``BatchSpanProcessor`` per exporter, configured by the
    ``OTEL_*`` variables) when they ask for traces and no provider is set yet; the function
    that flushes and shuts it down, or ``None`` when nothing was set up."""
    global _provider
    names = wanted_exporters()
    if not names or enabled():  # off, or the application configured its own
        return None
    from bailian_geo_agent.prompts.catalogue import text

    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        exporters: list[Any] = []
        for name in names:
            if name == "otlp":
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )

                exporters.append(OTLPSpanExporter())
            elif name == "console":  # stderr: stdout is MCP's stdio channel
                exporters.append(ConsoleSpanExporter(out=sys.stderr))
            else:
                logger.warning(text("tracing_unknown_exporter", name=name[:40]))
    except ImportError as exc:
        logger.warning(text("tracing_needs_sdk", name=exc.name or "opentelemetry"))
        return None
    if not exporters:
        return None
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": AGENT_NAME}))
    provider = TracerProvider(resource=resource)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _provider = provider

    def shutdown() -> None:
        global _provider
        if _provider is provider:  # once
            _provider = None
            provider.shutdown()  # flushes the batches

    return shutdown


# -- a tool called from outside (MCP) ----------------------------------------------------------


@contextmanager
def remote_tool_span(tool: str, carrier: Mapping[str, Any],
                     attributes: Mapping[str, Any]) -> Iterator[Span]:
    """An ``execute_tool {tool}`` server span for a tool called by a client, child of the trace
    context in ``carrier`` (W3C ``traceparent``/``tracestate``, as MCP's ``_meta`` carries them);
    ``error.type`` when the block raises. Only while ``enabled()``."""
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind, StatusCode

    headers = {k.lower(): v for k, v in carrier.items() if isinstance(v, str)}
    parent = propagate.extract(headers)
    span = tracer().start_span(
        f"execute_tool {tool}", context=parent, kind=SpanKind.SERVER,
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool,
                    "gen_ai.tool.type": "function", **attributes})
    try:
        yield span
    except BaseException as exc:
        span.set_attribute("error.type", type(exc).__qualname__)
        span.set_status(StatusCode.ERROR)
        raise
    finally:
        span.end()


def mark_failed(span: Span, error_type: str) -> None:
    """Record on ``span`` that its operation failed (``error.type``)."""
    from opentelemetry.trace import StatusCode

    span.set_attribute("error.type", error_type)
    span.set_status(StatusCode.ERROR)


# -- a reply's spans --------------------------------------------------------------------------


class ReplyTrace:
    """One reply's ``invoke_agent`` span and the callback handler that adds its model and
    tool calls as child spans. Start it only when ``enabled()``."""

    def __init__(self, session_id: str, message: str, *, model: str, provider: str | None,
                 content: bool) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind

        self.session_id = session_id
        self.model = model
        self.provider = provider
        self.content = content
        self.tracer = tracer()
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": AGENT_NAME,
            "gen_ai.conversation.id": session_id,
            "gen_ai.request.model": model,
        }
        if provider:
            attributes["gen_ai.provider.name"] = provider
        if content:
            attributes["gen_ai.input.messages"] = _messages_json([("user", message)])
        self.span: Span = self.tracer.start_span(
            f"invoke_agent {AGENT_NAME}", kind=SpanKind.INTERNAL, attributes=attributes)
        self.context: Context = trace.set_span_in_context(self.span)
        self.handler = TraceHandler(self)
        self._answer = ""
        self.tokens = [0, 0]  # input, output: every model call of the reply

    def end(self, error_type: str | None = None) -> None:
        """End the span; ``error_type``: the reply failed (``error.type``). Never raises."""
        try:
            self._end(error_type)
        except Exception as exc:
            logger.warning("ending a reply's span failed: %s", type(exc).__name__)

    def _end(self, error_type: str | None) -> None:
        from opentelemetry.trace import StatusCode

        span = self.span
        if any(self.tokens):
            span.set_attribute("gen_ai.usage.input_tokens", self.tokens[0])
            span.set_attribute("gen_ai.usage.output_tokens", self.tokens[1])
        if self.content and self._answer:
            span.set_attribute("gen_ai.output.messages",
                               _messages_json([("assistant", self._answer)]))
        if error_type:
            span.set_attribute("error.type", error_type)
            span.set_status(StatusCode.ERROR)
        self.handler.end_open_spans(error_type or "interrupted")
        span.end()


class TraceHandler(BaseCallbackHandler):
    """LangChain callbacks to ``chat`` and ``execute_tool`` spans under a ``ReplyTrace``."""

    run_inline = True  # on the loop, in order: starting a span is cheap

    def __init__(self, reply: ReplyTrace) -> None:
        self.reply = reply
        self._spans: dict[UUID, Span] = {}

    def _start(self, run_id: UUID, name: str, attributes: dict[str, Any], client: bool) -> None:
        from opentelemetry.trace import SpanKind

        reply = self.reply
        attributes["gen_ai.conversation.id"] = reply.session_id
        if reply.provider and attributes["gen_ai.operation.name"] == "chat":
            attributes["gen_ai.provider.name"] = reply.provider
        kind = SpanKind.CLIENT if client else SpanKind.INTERNAL
        self._spans[run_id] = reply.tracer.start_span(
            name, context=reply.context, kind=kind, attributes=attributes)

    def _end(self, run_id: UUID, error: BaseException | str | None = None) -> Span | None:
        from opentelemetry.trace import StatusCode

        span = self._spans.pop(run_id, None)
        if span is not None:
            if error is not None:
                span.set_attribute("error.type", error if isinstance(error, str)
                                   else type(error).__qualname__)
                span.set_status(StatusCode.ERROR)
            span.end()
        return span

    def end_open_spans(self, error_type: str) -> None:
        """End the calls still open when the reply ended (it was stopped or failed)."""
        for run_id in list(self._spans):
            self._end(run_id, error_type)

    def on_chat_model_start(self, serialized: dict[str, Any] | None,
                            messages: list[list[Any]], *, run_id: UUID,
                            parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        params = kwargs.get("invocation_params") or {}
        metadata = kwargs.get("metadata") or {}
        model = str(params.get("model") or params.get("model_name")
                    or metadata.get("ls_model_name") or self.reply.model)
        attributes: dict[str, Any] = {"gen_ai.operation.name": "chat",
                                      "gen_ai.request.model": model}
        if not self.reply.provider and metadata.get("ls_provider"):
            attributes["gen_ai.provider.name"] = str(metadata["ls_provider"])
        if self.reply.content and messages:
            attributes["gen_ai.input.messages"] = _messages_json(list(messages[0]))
        self._start(run_id, f"chat {model}", attributes, client=True)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        span = self._spans.get(run_id)
        if span is None:
            return
        generations = getattr(response, "generations", None) or [[]]
        message = getattr(generations[0][0], "message", None) if generations[0] else None
        if message is not None:
            meta = getattr(message, "response_metadata", None) or {}
            if meta.get("model_name"):
                span.set_attribute("gen_ai.response.model", str(meta["model_name"]))
            if meta.get("id"):
                span.set_attribute("gen_ai.response.id", str(meta["id"]))
            if meta.get("finish_reason"):
                span.set_attribute("gen_ai.response.finish_reasons", [str(meta["finish_reason"])])
            usage = getattr(message, "usage_metadata", None) or {}
            if usage:
                tokens = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
                span.set_attribute("gen_ai.usage.input_tokens", tokens[0])
                span.set_attribute("gen_ai.usage.output_tokens", tokens[1])
                self.reply.tokens[0] += tokens[0]
                self.reply.tokens[1] += tokens[1]
            text = _text(message)
            if text:
                self.reply._answer = text
            if self.reply.content:
                span.set_attribute("gen_ai.output.messages",
                                   _messages_json([("assistant", text)], message))
        self._end(run_id)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error)

    def on_tool_start(self, serialized: dict[str, Any] | None, input_str: str, *,
                      run_id: UUID, parent_run_id: UUID | None = None,
                      inputs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        name = str((serialized or {}).get("name") or kwargs.get("name") or "tool")
        attributes: dict[str, Any] = {"gen_ai.operation.name": "execute_tool",
                                      "gen_ai.tool.name": name, "gen_ai.tool.type": "function"}
        call_id = kwargs.get("tool_call_id")
        if call_id:
            attributes["gen_ai.tool.call.id"] = str(call_id)
        if self.reply.content:
            attributes["gen_ai.tool.call.arguments"] = (
                json.dumps(inputs, ensure_ascii=False, default=str) if inputs is not None
                else str(input_str))
        self._start(run_id, f"execute_tool {name}", attributes, client=False)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        span = self._spans.get(run_id)
        if span is None:
            return
        call_id = getattr(output, "tool_call_id", None)
        if call_id:
            span.set_attribute("gen_ai.tool.call.id", str(call_id))
        if self.reply.content:
            span.set_attribute("gen_ai.tool.call.result", _text(output))
        self._end(run_id, "tool_error" if getattr(output, "status", None) == "error" else None)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error)


def _role(message: Any) -> str:
    kind = getattr(message, "type", "")
    return {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}.get(
        kind, str(kind or "user"))


def _text(message: Any) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part if isinstance(part, str) else str(part.get("text", ""))
                       for part in content if isinstance(part, str | dict))
    return str(content)


def _messages_json(messages: list[Any], answer: Any = None) -> str:
    """Messages in the conventions' shape (``role`` and ``parts``) as JSON: LangChain messages,
    or ``(role, text)`` pairs; ``answer``: the model's message whose tool calls to add."""
    out = []
    for item in messages:
        if isinstance(item, tuple):
            role, text, source = item[0], item[1], answer
        else:
            role, text, source = _role(item), _text(item), item
        parts: list[dict[str, Any]] = []
        if role == "tool":
            parts.append({"type": "tool_call_response",
                          "id": getattr(source, "tool_call_id", None), "response": text})
        elif text:
            parts.append({"type": "text", "content": text})
        for call in getattr(source, "tool_calls", None) or []:
            parts.append({"type": "tool_call", "id": call.get("id"), "name": call.get("name"),
                          "arguments": call.get("args")})
        out.append({"role": role, "parts": parts})
    return json.dumps(out, ensure_ascii=False, default=str)
