"""``ChunkStreamHandler``: LangChain callback events in, the documented stream events out.

Usable on its own in any chain or agent::

    handler = ChunkStreamHandler()
    task = asyncio.create_task(my_agent.ainvoke(inputs, config={"callbacks": [handler]}))
    async for event in handler.dicts():
        print(event)  # {"type": "stream_chunk", "message_id": ..., "session_id": ..., "chunk": ...}
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from typing import Any
from uuid import UUID, uuid4

from bailian_geo_agent.agent.errors import AnswerTooLongError, ProviderError, to_agent_error
from bailian_geo_agent.agent.events import (
    OPTIONAL_EVENTS,
    ApprovalRequest,
    Links,
    MapAction,
    ReasoningChunk,
    Source,
    StreamChunk,
    StreamEnd,
    StreamError,
    StreamEvent,
    StreamStart,
    ToolEnd,
    ToolStart,
    Usage,
)
from bailian_geo_agent.agent.providers._search import SEARCH_RESULTS, is_web_url
from bailian_geo_agent.agent.providers._thinking import REASONING_KEY
from bailian_geo_agent.prompts.catalogue import text as message_text
from langchain_core.callbacks import AsyncCallbackHandler

logger = logging.getLogger(__name__)

_DONE = object()
_TOOL_RESULT_PREVIEW = 200
_NO_STREAM_TAG = "nostream"
APPROVAL_EVENT = "geo_agent_approval_request"
"""The LangChain custom event of a reply pausing for tool approval (``agent.approval``):
``{"approvals": [{"approval_id", "tool", "arguments", "tool_call_id", ...}, ...]}``."""


def _unanswered(outputs: Any) -> ProviderError | None:
    """Why an agent run that streamed no text has no answer, if its final state shows it."""
    messages = outputs.get("messages") if isinstance(outputs, dict) else None
    last: Any = messages[-1] if isinstance(messages, list) and messages else None
    if getattr(last, "type", None) != "ai" or last.tool_calls:
        return None
    if last.invalid_tool_calls:
        return ProviderError(message_text("invalid_tool_arguments"))
    if not last.text:
        return ProviderError(message_text("empty_reply"))
    return None


class _TextParts:
    """Text kept piece by piece in blocks, so memory stays near the text's own size."""

    __slots__ = ("_blocks", "_parts")

    def __init__(self) -> None:
        self._blocks: list[str] = []
        self._parts: list[str] = []

    def append(self, piece: str) -> None:
        parts = self._parts
        parts.append(piece)
        if len(parts) >= 256:  # one string per 256 pieces, not one object per piece
            self._blocks.append("".join(parts))
            parts.clear()

    def text(self) -> str:
        return "".join(self._blocks) + "".join(self._parts)


def _block_text(blocks: list[str | dict[str, Any]]) -> str:
    """The answer text in a list of content blocks (reasoning and tool blocks carry none)."""
    return "".join(
        block if isinstance(block, str) else str(block.get("text") or "")
        for block in blocks
        if isinstance(block, str) or block.get("type") == "text"
    )


async def _hand_over() -> None:
    """Let the reader take the reply's first piece now.

    Chunks that arrived together (a burst in one read) are parsed without the producer ever
    waiting, so without this the reader would get the first piece only once the whole burst
    was parsed (2,000 chunks: about 20 ms later). One pass of the event loop, once a reply.
    """
    await asyncio.sleep(0)


def _describe_error(error: BaseException) -> str:
    return str(to_agent_error(error))


def error_kind(error: BaseException) -> str:
    """``StreamError.kind`` of ``error``: its class in the agent's error hierarchy."""
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    try:
        return type(to_agent_error(error)).__name__
    except Exception:
        return type(error).__name__


def _add_usage(totals: list[int], response: Any) -> None:
    """Add one model call's ``usage_metadata`` to ``totals`` (see ``ChunkStreamHandler``)."""
    totals[4] += 1
    for generations in getattr(response, "generations", None) or ():
        for generation in generations:
            usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
            if not usage:
                continue
            totals[0] += usage.get("input_tokens") or 0
            totals[1] += usage.get("output_tokens") or 0
            totals[2] += (usage.get("output_token_details") or {}).get("reasoning") or 0
            totals[3] += usage.get("total_tokens") or 0
            details = usage.get("input_token_details") or {}
            totals[5] += details.get("cache_read") or 0
            totals[6] += details.get("cache_creation") or 0



class ChunkStreamHandler(AsyncCallbackHandler):
    """Collects one reply's events in a queue; iterate the handler to read them.

    The first run that starts without a parent (the agent, chain or model the handler was passed
    to) is the reply: its start sends ``stream_start``, every non-empty token of any chat model
    inside it sends ``stream_chunk``, and its end or error sends ``stream_end`` or ``error`` and
    closes the iterator. ``events`` opts into ``map_action``, ``tool_start``, ``tool_end``,
    ``reasoning_chunk`` (a thinking model's reasoning, as it streams), ``usage`` (the
    reply's tokens, every model call summed, just before ``stream_end``, or ``error`` once a
    model call has finished), ``source`` (each web page a web search used) and
    ``approval_request`` (a tool call waiting for the user's approval, ``agent.approval``).
    """

    run_inline = True  # keep token order and skip a task per event

    def __init__(
        self,
        *,
        session_id: str | None = None,
        message_id: str | None = None,
        events: Collection[str] = (),
        describe_error: Callable[[BaseException], str] = _describe_error,
        max_answer_chars: int = 0,
    ) -> None:
        unknown = set(events) - OPTIONAL_EVENTS
        if unknown:
            raise ValueError(
                f"unknown optional events {sorted(unknown)}; choose from {sorted(OPTIONAL_EVENTS)}"
            )
        self.session_id = session_id or str(uuid4())
        self.message_id = message_id or str(uuid4())
        self.events = frozenset(events)
        self._describe_error = describe_error
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._root: UUID | None = None
        self._finished = False
        self.failed = False
        """Whether the reply ended with ``error``."""
        # Running tools by run id: (name, the model's tool call id, start time).
        self._tools: dict[UUID, tuple[str, str | None, float]] = {}
        self._log_tools = logger.isEnabledFor(logging.INFO)
        self._reasoning = "reasoning_chunk" in self.events
        self._reasoning_sent = False
        # [input, output, reasoning, total, model calls, cached, cache creation], when usage
        # was asked for.
        self._usage: list[int] | None = [0] * 7 if "usage" in self.events else None
        self._sources: set[str] | None = set() if "source" in self.events else None
        self.text_sent = False
        """Whether any answer text has gone out (retrying after that would duplicate it)."""
        self.max_answer_chars = max_answer_chars
        """Most answer characters sent in this reply (0: no limit); beyond, the model call
        fails with ``AnswerTooLongError`` (which is why this handler then raises its errors)."""
        self.raise_error = bool(max_answer_chars)
        self._chars = 0
        self._call_text = _TextParts()

    # -- reading ---------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[StreamEvent]:
        get = self._queue.get
        while (event := await get()) is not _DONE:
            yield event

    async def dicts(self) -> AsyncIterator[dict[str, Any]]:
        """The events in their documented dict form."""
        async for event in self:
            yield event.to_dict()

    @property
    def queue(self) -> asyncio.Queue[Any]:
        """The underlying queue; the reply's last item is a sentinel that is not an event."""
        return self._queue

    @property
    def call_text(self) -> str:
        """The answer text sent by the model call in progress (or the last one)."""
        return self._call_text.text()

    def handed_call_text(self) -> str:
        """After the reader has gone (the reply was stopped): ``call_text`` less the chunks
        still waiting for it, which are dropped; what the reader was handed."""
        queue, waiting = self._queue, 0
        kept: list[Any] = []
        while not queue.empty():
            item = queue.get_nowait()
            if type(item) is StreamChunk:
                waiting += len(item.chunk)
            else:
                kept.append(item)
        for item in kept:
            queue.put_nowait(item)
        text = self._call_text.text()
        # More waiting than this call wrote: an earlier call's text waits too, so none of it
        # was handed.
        return text[:max(len(text) - waiting, 0)] if waiting else text

    @property
    def finished(self) -> bool:
        """Whether ``stream_end`` or ``error`` has been emitted."""
        return self._finished

    # -- writing ------------------------------------------------------------------------

    # LangChain streams a chat model's tokens only when the model asks for it (``streaming``)
    # or a streaming handler is attached; these two methods make this handler one, so any
    # model passed in (a caller's ``ChatOpenAI()`` included) streams as the reply goes.

    def tap_output_aiter(self, run_id: UUID, output: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """Passes a run's output through unchanged."""
        return output

    def tap_output_iter(self, run_id: UUID, output: Iterator[Any]) -> Iterator[Any]:
        """Passes a run's output through unchanged."""
        return output

    def start(self) -> None:
        """Emit ``stream_start`` (once)."""
        self._queue.put_nowait(StreamStart(self.message_id, self.session_id))

    def finish(self, error: BaseException | str | None = None, *, kind: str = "") -> None:
        """Emit ``stream_end`` or ``error`` and close the iterator; later calls do nothing.
        ``kind``: what failed (``StreamError.kind``; by default the error's class)."""
        if self._finished:
            return
        self._finished = True
        usage = self._usage
        # The tokens spent: before the end, or before an error once a model call has finished.
        if usage is not None and (error is None or usage[4]):
            tokens_in, tokens_out, reasoning, total, calls, cached, created = usage
            self._queue.put_nowait(Usage(self.message_id, self.session_id, tokens_in,
                                         tokens_out, reasoning, total, calls, cached, created))
        if error is None:
            self._queue.put_nowait(StreamEnd(self.message_id, self.session_id))
        else:
            self.failed = True
            try:
                text = error if isinstance(error, str) else self._describe_error(error)
            except Exception:  # never leave the consumer waiting for a last event
                text = message_text("internal_error")
            if not kind and not isinstance(error, str):
                kind = error_kind(error)
            self._queue.put_nowait(StreamError(self.message_id, self.session_id, text, kind))
        self._queue.put_nowait(_DONE)

    def _begin(self, run_id: UUID, parent_run_id: UUID | None) -> None:
        if self._root is None and parent_run_id is None:
            self._root = run_id
            self.start()

    # -- LangChain callbacks ---------------------------------------------------------------

    async def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: dict[str, Any] | Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._begin(run_id, parent_run_id)

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._begin(run_id, parent_run_id)
        self._call_text = _TextParts()

    async def on_llm_new_token(
        self,
        token: str | list[str | dict[str, Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(token, str):  # content blocks (a model with output_version="v1")
            token = _block_text(token)
        # Empty tokens are role-only chunks, tool-call fragments, usage and reasoning chunks.
        if token:
            if self._finished or (tags and _NO_STREAM_TAG in tags):
                return
            over = False
            if self.max_answer_chars:
                room = self.max_answer_chars - self._chars
                if len(token) > room:  # send what fits, then end the model call
                    token, over = token[: max(room, 0)], True
                self._chars += len(token)
            if token:
                first = not self.text_sent
                self.text_sent = True
                self._call_text.append(token)
                self._queue.put_nowait(StreamChunk(self.message_id, self.session_id, token))
                if first:
                    await _hand_over()
            if over:
                raise AnswerTooLongError(
                    message_text("answer_too_long", limit=self.max_answer_chars)
                )
        elif (self._reasoning or self._sources is not None) and not self._finished and not (
            tags and _NO_STREAM_TAG in tags
        ):
            message = getattr(kwargs.get("chunk"), "message", None)
            if message is None:
                return
            reasoning = message.additional_kwargs.get(REASONING_KEY) if self._reasoning else None
            if reasoning and isinstance(reasoning, str):
                self._queue.put_nowait(ReasoningChunk(self.message_id, self.session_id, reasoning))
                if not self._reasoning_sent:
                    self._reasoning_sent = True
                    await _hand_over()
            elif self._sources is not None:
                self._source_events(message)

    def _source_events(self, message: Any) -> None:
        """A ``source`` event for each new web source a chunk carries (``_search``)."""
        self._add_sources(message.response_metadata.get(SEARCH_RESULTS))

    def _add_sources(self, sources: Any) -> None:
        """A ``source`` event for each new web page of ``sources`` (``[{"url", "title"}]``)."""
        seen = self._sources
        if not isinstance(sources, list) or seen is None:
            return
        for source in sources:
            url = source.get("url") if isinstance(source, dict) else None
            if is_web_url(url) and url not in seen:  # any model's chunk, not only ours
                seen.add(url)
                title = source.get("title")
                self._queue.put_nowait(Source(self.message_id, self.session_id, url,
                                              title if isinstance(title, str) else url))

    async def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if self._usage is not None:
            _add_usage(self._usage, response)
        if run_id == self._root:
            self.finish()

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id == self._root:
            self.finish(error)

    async def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id == self._root:
            self.finish(_unanswered(outputs))

    async def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id == self._root:
            self.finish(error)

    async def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not self.events and not self._log_tools:
            return
        name = (serialized or {}).get("name") or kwargs.get("name") or "tool"
        call_id = kwargs.get("tool_call_id")
        call_id = call_id if isinstance(call_id, str) else None
        self._tools[run_id] = (name, call_id, time.perf_counter())
        if "tool_start" in self.events:
            arguments: dict[str, Any] | str = inputs if inputs is not None else input_str
            self._queue.put_nowait(
                ToolStart(self.message_id, self.session_id, name, arguments, call_id)
            )

    async def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if not self.events and not self._log_tools:
            return
        outcome = "error" if getattr(output, "status", None) == "error" else "ok"  # handled
        name, call_id = self._tool_ended(run_id, outcome, getattr(output, "tool_call_id", None))
        artifact = getattr(output, "artifact", None)
        if isinstance(artifact, dict):
            self._artifact_events(artifact, name, call_id)
        if "tool_end" in self.events:
            content = getattr(output, "content", output)
            if not isinstance(content, str):
                content = json.dumps(content, ensure_ascii=False, default=str)
            preview = content[:_TOOL_RESULT_PREVIEW]
            self._queue.put_nowait(
                ToolEnd(self.message_id, self.session_id, name, preview, call_id,
                        "ok" if outcome == "ok" else "error")
            )

    async def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        outcome = "cancelled" if isinstance(error, asyncio.CancelledError) else (
            f"error {type(error).__name__}")
        name, call_id = self._tool_ended(run_id, outcome, kwargs.get("tool_call_id"))
        if "tool_end" in self.events:
            text = message_text("tool_failed", error=type(error).__name__)
            self._queue.put_nowait(ToolEnd(self.message_id, self.session_id, name, text, call_id,
                                           "cancelled" if outcome == "cancelled" else "error"))

    async def on_custom_event(self, name: str, data: Any, *, run_id: UUID,
                              **kwargs: Any) -> None:
        if name != APPROVAL_EVENT or "approval_request" not in self.events or self._finished:
            return
        for item in data.get("approvals", ()) if isinstance(data, dict) else ():
            self._queue.put_nowait(ApprovalRequest(
                self.message_id, self.session_id, item["tool"], item["arguments"],
                item.get("tool_call_id"), item["approval_id"]))

    def _artifact_events(self, artifact: dict[str, Any], tool: str, call_id: str | None) -> None:
        """The opt-in events a tool's artifact carries: its map commands and links."""
        structured = artifact.get("structured_content")  # the tool, loaded over MCP
        if isinstance(structured, dict):
            artifact = structured
        if "map_action" in self.events:
            # Not at import: its pydantic models cost a library's cold start ~10 ms.
            from bailian_geo_agent.tools.map_commands import artifact_commands

            for action in artifact_commands(artifact):
                self._queue.put_nowait(MapAction(self.message_id, self.session_id, action))
        self._add_sources(artifact.get("sources"))  # the pages a result came from
        links = artifact.get("links")
        if "links" in self.events and isinstance(links, list) and links:
            self._queue.put_nowait(Links(self.message_id, self.session_id, tool,
                                         [link for link in links if isinstance(link, dict)],
                                         call_id))

    def _tool_ended(self, run_id: UUID, outcome: str, call_id: Any) -> tuple[str, str | None]:
        """The ended tool's name and call id; logs it (``-v``: tool, time, outcome)."""
        name, started_id, started = self._tools.pop(run_id, ("tool", None, 0.0))
        if started_id is None and isinstance(call_id, str):
            started_id = call_id
        if self._log_tools and started:
            logger.info("reply %s: tool %s (%s) %s in %.3f s", self.message_id, name,
                        started_id or "-", outcome, time.perf_counter() - started)
        return name, started_id
