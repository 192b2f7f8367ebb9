"""The service's Prometheus metrics (``GET /metrics``), one ``CollectorRegistry`` per app.

Names follow the OpenTelemetry GenAI semantic conventions where one exists, mapped to
Prometheus naming (dots to underscores, the unit as a suffix, ``_total`` on counters,
attributes as labels with dots to underscores); the rest are ``geo_agent_*``:

=======================================================  ===================================
Prometheus                                               OpenTelemetry / meaning
=======================================================  ===================================
``gen_ai_client_token_usage_total{gen_ai_token_type,     ``gen_ai.client.token.usage``
gen_ai_request_model, api_token}`` (counter)             (``gen_ai.token.type``: ``input``,
                                                         ``output``; here also ``reasoning``,
                                                         ``cached`` and ``cache_creation``,
                                                         parts of those two).
                                                         A running sum per reply, not the
                                                         per-call histogram.
``gen_ai_client_operation_duration_seconds{              ``gen_ai.client.operation.duration``
gen_ai_operation_name="invoke_agent",                    of one reply, request to last event
gen_ai_request_model, error_type}`` (histogram)          (``error.type``: empty when it ended
                                                         well)
``gen_ai_server_time_to_first_token_seconds{             ``gen_ai.server.time_to_first_token``:
gen_ai_request_model}`` (histogram)                      request to the first answer chunk
``gen_ai_execute_tool_duration_seconds{gen_ai_tool_name, the ``execute_tool`` operation's
outcome}`` (histogram; ``_count``: tool calls)           duration; ``outcome`` ``ok``,
                                                         ``error``, ``cancelled``
``geo_agent_replies_started_total``                      replies begun (``stream_start`` sent)
``geo_agent_replies_finished_total{outcome}``            ``completed``, ``error``,
                                                         ``cancelled``, ``interrupted``
``geo_agent_replies_in_flight``                          replies running in this process
``geo_agent_chunks_sent_total``                          answer chunks (``stream_chunk``)
``geo_agent_upstream_errors_total{error_type}``          replies ended by an error, by its
                                                         class (``RateLimitError``,
                                                         ``NetworkError``, ...)
``geo_agent_resume_reads_total{protocol}``               resume reads answered (``sse``,
                                                         ``aisdk``)
``geo_agent_limit_refusals_total{limit}``                requests refused: 429
                                                         (``requests_per_minute``,
                                                         ``concurrent_replies``,
                                                         ``daily_token_budget``, ``other``),
                                                         413 (``body_bytes``,
                                                         ``message_chars``)
=======================================================  ===================================

A reply is ``interrupted`` when its last event is an ``error`` of kind ``interrupted`` or its
task is cancelled with the message ``"interrupted"`` (a restart); otherwise a stopped reply is
``cancelled``.

``api_token`` is ``agent.server.usage.token_id`` (a short hash of the token's digest, never the
token; ``anonymous`` without tokens). Each process has its own registry; several instances
are scraped one by one and added up in PromQL (``sum by (...)``).

``Metrics.observe`` wraps a reply's event stream: it asks the service for the events it needs
(``tool_start``, ``tool_end``, ``usage``) and hands on only those the client asked for. Per
chunk it adds one local count and one flag test; everything else is recorded once per reply.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

from bailian_geo_agent.agent.events import (
    StreamChunk,
    StreamEnd,
    StreamError,
    StreamEvent,
    StreamStart,
    ToolEnd,
    ToolStart,
    Usage,
)
from bailian_geo_agent.agent.server.usage import Totals
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

logger = logging.getLogger(__name__)

OBSERVED_EVENTS = frozenset({"tool_start", "tool_end", "usage"})
"""The optional events the metrics need from every reply."""
_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_FIRST = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
_TOOL = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
FAILED = "error"
"""The outcome of a reply ended by an error (not stopped, not interrupted)."""
_OUTCOMES = {"cancelled": "cancelled", "interrupted": "interrupted"}


class Metrics:
    """The app's metrics, in their own registry (``registry``)."""

    def __init__(self, model: str = "") -> None:
        self.model = model or "unknown"
        self.registry = CollectorRegistry()
        r = self.registry
        self.tokens = Counter(
            "gen_ai_client_token_usage", "Model tokens spent, by type, model and API token",
            ["gen_ai_token_type", "gen_ai_request_model", "api_token"], registry=r)
        self.duration = Histogram(
            "gen_ai_client_operation_duration_seconds",
            "Reply duration, request to last event",
            ["gen_ai_operation_name", "gen_ai_request_model", "error_type"],
            buckets=_SECONDS, registry=r)
        self.first_chunk = Histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time from the request to the reply's first answer chunk",
            ["gen_ai_request_model"], buckets=_FIRST, registry=r)
        self.tools = Histogram(
            "gen_ai_execute_tool_duration_seconds", "Tool call duration, by tool and outcome",
            ["gen_ai_tool_name", "outcome"], buckets=_TOOL, registry=r)
        self.started = Counter("geo_agent_replies_started", "Replies begun", registry=r)
        self.finished = Counter("geo_agent_replies_finished", "Replies ended, by outcome",
                                ["outcome"], registry=r)
        self.in_flight = Gauge("geo_agent_replies_in_flight", "Replies running in this process",
                               registry=r)
        self.chunks = Counter("geo_agent_chunks_sent", "Answer chunks sent", registry=r)
        self.upstream_errors = Counter(
            "geo_agent_upstream_errors", "Replies ended by an error, by the error's class",
            ["error_type"], registry=r)
        self.resume_reads = Counter("geo_agent_resume_reads", "Resume reads answered",
                                    ["protocol"], registry=r)
        self.limit_refusals = Counter("geo_agent_limit_refusals",
                                      "Requests refused by a limit (429, 413)", ["limit"],
                                      registry=r)
        self._first_chunk = self.first_chunk.labels(self.model)

    def observe(self, source: AsyncGenerator[StreamEvent, None], wanted: frozenset[str],
                api_token: str, started: float,
                on_end: Callable[[ReplyRecord], None] | None = None,
                ) -> AsyncGenerator[StreamEvent, None]:
        """``source`` (asked for ``wanted | OBSERVED_EVENTS``) passed on with only the events
        ``wanted``, recorded as it goes; ``started``: ``time.perf_counter()`` at the request.
        ``on_end`` gets the reply's record once it has ended (not for one that never began)."""
        drop: tuple[type, ...] = tuple(
            cls for name, cls in (("tool_start", ToolStart), ("tool_end", ToolEnd),
                                  ("usage", Usage)) if name not in wanted)
        return self._observe(source, drop, api_token, started, on_end)

    async def _observe(self, source: AsyncGenerator[StreamEvent, None],
                       drop: tuple[type, ...], api_token: str, started: float,
                       on_end: Callable[[ReplyRecord], None] | None,
                       ) -> AsyncGenerator[StreamEvent, None]:
        record = ReplyRecord(api_token, started)
        chunks = 0
        waiting = True  # for the first chunk
        tools: dict[Any, float] = {}
        try:
            async for event in source:
                if event.__class__ is StreamChunk:
                    chunks += 1
                    if waiting:
                        waiting = False
                        self._first_chunk.observe(time.perf_counter() - started)
                    yield event
                    continue
                if isinstance(event, ToolStart):
                    tools[event.tool_call_id or event.tool] = time.perf_counter()
                elif isinstance(event, ToolEnd):
                    began = tools.pop(event.tool_call_id or event.tool, None)
                    if began is not None:
                        self.tools.labels(event.tool, event.outcome).observe(
                            time.perf_counter() - began)
                elif isinstance(event, Usage):
                    record.usage = event
                elif isinstance(event, StreamStart):
                    record.message_id, record.session_id = event.message_id, event.session_id
                    record.begun = True
                    self.started.inc()
                    self.in_flight.inc()
                elif isinstance(event, StreamEnd):
                    record.outcome = "completed"
                elif isinstance(event, StreamError):
                    record.outcome = _OUTCOMES.get(event.kind, FAILED)
                    record.error_type = event.kind or FAILED
                if isinstance(event, drop):
                    continue
                yield event
        except asyncio.CancelledError as exc:  # stopped; ``task.cancel("interrupted")``: a restart
            if exc.args and exc.args[0] == "interrupted":
                record.outcome = record.error_type = "interrupted"
            raise
        finally:
            record.chunks = chunks
            if record.begun:
                self._end(record)
                if on_end is not None:
                    on_end(record)
            elif record.outcome == FAILED:  # it never began (bad settings, store down, busy)
                self.upstream_errors.labels(record.error_type).inc()

    def _end(self, record: ReplyRecord) -> None:
        """Record a reply that has ended."""
        elapsed = time.perf_counter() - record.started
        record.duration = elapsed
        outcome = record.outcome
        self.in_flight.dec()
        self.finished.labels(outcome).inc()
        self.chunks.inc(record.chunks)
        error_type = "" if outcome == "completed" else record.error_type
        self.duration.labels("invoke_agent", self.model, error_type).observe(elapsed)
        if outcome == FAILED:
            self.upstream_errors.labels(error_type).inc()
        usage = record.usage
        if usage is not None:
            for kind, count in (("input", usage.input_tokens), ("output", usage.output_tokens),
                                ("reasoning", usage.reasoning_tokens),
                                ("cached", usage.cached_tokens),
                                ("cache_creation", usage.cache_creation_tokens)):
                if count:
                    self.tokens.labels(kind, self.model, record.api_token).inc(count)


class ReplyRecord:
    """What one reply did, as the metrics saw it."""

    __slots__ = ("api_token", "begun", "chunks", "duration", "error_type", "message_id",
                 "outcome", "session_id", "started", "usage")

    def __init__(self, api_token: str, started: float) -> None:
        self.api_token = api_token
        self.started = started
        self.begun = False
        self.message_id = ""
        self.session_id = ""
        self.outcome = "cancelled"  # unless its last event says otherwise
        self.error_type = "cancelled"
        self.chunks = 0
        self.duration = 0.0
        self.usage: Usage | None = None

    def totals(self) -> Totals:
        """The reply's tokens, for the per-token usage."""
        return Totals.of(self.usage)

    def log(self) -> None:
        """The reply's one log line (at ``INFO``)."""
        if not logger.isEnabledFor(logging.INFO):
            return
        usage = self.usage
        tokens = (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens,
                  usage.cached_tokens, usage.cache_creation_tokens) if usage is not None \
            else (0, 0, 0, 0, 0)
        logger.info(
            "reply %s in session %s: %s in %.3f s, %d chunks, tokens in %d out %d "
            "(reasoning %d, cached %d, cache creation %d)", self.message_id, self.session_id,
            self.outcome,
            self.duration, self.chunks, *tokens,
            extra={"message_id": self.message_id, "session_id": self.session_id,
                   "outcome": self.outcome, "duration_s": round(self.duration, 6),
                   "chunks": self.chunks, "api_token": self.api_token,
                   "error_type": None if self.outcome == "completed" else self.error_type,
                   "input_tokens": tokens[0], "output_tokens": tokens[1],
                   "reasoning_tokens": tokens[2], "cached_tokens": tokens[3],
                   "cache_creation_tokens": tokens[4]})
