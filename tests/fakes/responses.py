"""DashScope's Responses API for ``FakeDashScope``: ``POST {responses_base_url}/responses``.

Request and stream follow the OpenAI Responses API (the installed ``openai`` package's
``openai/types/responses`` event types; DashScope's compatible Responses endpoint, protocols.md
section 9). A request's ``input`` items become chat-shaped messages for the fake's responders
(``user``/``system`` messages, ``function_call`` -> an assistant message with ``tool_calls``,
``function_call_output`` -> a ``tool`` message); ``previous_response_id`` prepends the stored
conversation of that response, as the real server does, and an unknown id is answered with
OpenAI's HTTP 400 ``previous_response_not_found``. Every response is stored (``store`` defaults
to true); ``FakeDashScope.responses`` holds them, ``forget_responses()`` drops them.

A stream is ``response.created``, then per output item ``response.output_item.added``,
``content_part.added`` / deltas / ``done`` events, ``response.output_item.done``, and
``response.completed`` with ``usage`` (``input_tokens_details.cached_tokens``). Reasoning comes
as a ``reasoning`` item with ``response.reasoning_summary_text.delta``; web sources (the
request has a ``web_search`` tool) as a ``web_search_call`` item before the message and
``url_citation`` annotations on its text.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.fakes import dashscope_wire as w

PATH = "/api/v2/apps/protocols/compatible-mode/v1/responses"
FORGOTTEN = "previous_response_not_found"


def new_response_id() -> str:
    return "resp_" + uuid.uuid4().hex


def _item_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def input_messages(items: Any) -> list[dict]:
    """The chat-shaped messages of a Responses ``input`` (a string or a list of items)."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    messages: list[dict] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message":
            messages.append({"role": item.get("role", "user"),
                             "content": _item_text(item.get("content"))})
        elif kind == "function_call":
            call = {"id": item.get("call_id"), "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments")}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"),
                             "content": _item_text(item.get("output"))})
    return messages


def reply_messages(text: str, calls: list[tuple[str, str, str]]) -> list[dict]:
    """The assistant message a reply adds to its conversation."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [{"id": cid, "type": "function",
                                  "function": {"name": name, "arguments": args}}
                                 for cid, name, args in calls]
    return [message]


def error_body(code: str, message: str, param: str | None, request_id: str) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param,
                      "code": code}, "request_id": request_id}


def forgotten_body(previous: str, request_id: str) -> dict:
    """OpenAI's answer to an unknown ``previous_response_id`` (HTTP 400)."""
    return error_body(FORGOTTEN, f"Previous response with id '{previous}' not found.",
                      "previous_response_id", request_id)


class _Events:
    """Numbers the stream's events (``sequence_number``) and frames them as SSE."""

    def __init__(self) -> None:
        self.sequence = 0

    def __call__(self, kind: str, **fields: Any) -> bytes:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return f"event: {kind}\ndata: {w.dumps(event)}\n\n".encode()


def usage(prompt: int, completion: int, reasoning: int | None, cached: int | None,
          created: int | None) -> dict:
    """A Responses ``usage``: ``input_tokens_details.cached_tokens`` and ``cache_write_tokens``
    (OpenAI's names; for a creation also the compatible fake's tolerant fields),
    ``output_tokens_details``."""
    details = {**w.cache_details(cached, created), "cache_write_tokens": created or 0}
    return {"input_tokens": prompt, "input_tokens_details": details,
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": reasoning or 0},
            "total_tokens": prompt + completion}


def response_object(response_id: str, model: str, status: str, output: list[dict],
                    usage_: dict | None, previous: str | None) -> dict:
    return {"id": response_id, "object": "response", "created_at": 1767225600, "model": model,
            "status": status, "output": output, "usage": usage_, "error": None,
            "incomplete_details": None, "instructions": None, "metadata": {},
            "parallel_tool_calls": True, "temperature": None, "tool_choice": "auto",
            "tools": [], "top_p": None, "previous_response_id": previous}


def stream(model: str, response_id: str, previous: str | None, text: str, chunk_size: int,
           calls: list[tuple[str, str, str]], prompt: int, *, reasoning: str = "",
           thinking: bool = False, cached: int | None = None, created: int | None = None,
           sources: list[dict] | None = None) -> tuple[bytes, list[bytes], list[bytes], bytes]:
    """(created event, content frames, closing frames, moderation error event) of one stream,
    shaped for ``FakeDashScope._stream``: each content frame holds one delta (with the item
    events that open it), so ``cut_after`` / ``moderation_after`` count deltas as elsewhere."""
    event = _Events()
    head = event("response.created",
                 response=response_object(response_id, model, "in_progress", [], None, previous))
    head += event("response.in_progress",
                  response=response_object(response_id, model, "in_progress", [], None, previous))
    frames: list[bytes] = []
    output: list[dict] = []
    thoughts = w.split(reasoning, chunk_size) if thinking else []
    if thoughts:
        index, rid = len(output), "rs_" + uuid.uuid4().hex[:24]
        opening = event("response.output_item.added", output_index=index,
                        item={"id": rid, "type": "reasoning", "summary": []})
        opening += event("response.reasoning_summary_part.added", item_id=rid,
                         output_index=index, summary_index=0,
                         part={"type": "summary_text", "text": ""})
        for i, piece in enumerate(thoughts):
            frames.append((opening if i == 0 else b"") + event(
                "response.reasoning_summary_text.delta", item_id=rid, output_index=index,
                summary_index=0, delta=piece))
        item = {"id": rid, "type": "reasoning",
                "summary": [{"type": "summary_text", "text": reasoning}]}
        frames[-1] += event("response.reasoning_summary_text.done", item_id=rid,
                            output_index=index, summary_index=0, text=reasoning)
        frames[-1] += event("response.output_item.done", output_index=index, item=item)
        output.append(item)
    if sources:
        index, sid = len(output), "ws_" + uuid.uuid4().hex[:24]
        item = {"id": sid, "type": "web_search_call", "status": "completed",
                "action": {"type": "search", "query": "", "sources": [
                    {"type": "url", "url": s["url"]} for s in sources]}}
        searched = event("response.output_item.added", output_index=index,
                         item={**item, "status": "in_progress"})
        searched += event("response.output_item.done", output_index=index, item=item)
        if frames:  # after the reasoning, in the order of the events' numbers
            frames[-1] += searched
        else:
            head += searched
        output.append(item)
    pieces = w.split(text, chunk_size)
    annotations = [{"type": "url_citation", "url": s["url"], "title": s.get("title", ""),
                    "start_index": 0, "end_index": len(text)} for s in sources or ()]
    if pieces or not calls:
        index, mid = len(output), "msg_" + uuid.uuid4().hex[:24]
        opening = event("response.output_item.added", output_index=index, item={
            "id": mid, "type": "message", "role": "assistant", "status": "in_progress",
            "content": []})
        opening += event("response.content_part.added", item_id=mid, output_index=index,
                         content_index=0,
                         part={"type": "output_text", "text": "", "annotations": []})
        for i, piece in enumerate(pieces):
            frames.append((opening if i == 0 else b"") + event(
                "response.output_text.delta", item_id=mid, output_index=index,
                content_index=0, delta=piece, logprobs=[]))
        closing = b"" if pieces else opening
        for n, annotation in enumerate(annotations):
            closing += event("response.output_text.annotation.added", item_id=mid,
                             output_index=index, content_index=0, annotation_index=n,
                             annotation=annotation)
        part = {"type": "output_text", "text": text, "annotations": annotations}
        closing += event("response.output_text.done", item_id=mid, output_index=index,
                         content_index=0, text=text, logprobs=[])
        closing += event("response.content_part.done", item_id=mid, output_index=index,
                         content_index=0, part=part)
        item = {"id": mid, "type": "message", "role": "assistant", "status": "completed",
                "content": [part]}
        closing += event("response.output_item.done", output_index=index, item=item)
        output.append(item)
        if frames:
            frames[-1] += closing
        else:
            head += closing
    for cid, name, args in calls:
        index, fid = len(output), "fc_" + uuid.uuid4().hex[:24]
        item = {"id": fid, "type": "function_call", "call_id": cid, "name": name,
                "arguments": "", "status": "in_progress"}
        opening = event("response.output_item.added", output_index=index, item=item)
        for i, piece in enumerate(w.split(args, max(chunk_size, 4)) or [""]):
            frames.append((opening if i == 0 else b"") + event(
                "response.function_call_arguments.delta", item_id=fid, output_index=index,
                delta=piece))
        done = {**item, "arguments": args, "status": "completed"}
        frames[-1] += event("response.function_call_arguments.done", item_id=fid,
                            output_index=index, name=name, arguments=args)
        frames[-1] += event("response.output_item.done", output_index=index, item=done)
        output.append(done)
    completion = max(1, len(thoughts) + len(pieces) + len(calls))
    final = event("response.completed", response=response_object(
        response_id, model, "completed", output,
        usage(prompt, completion, len(thoughts) if thinking else None, cached, created),
        previous))
    error = event("error", code="data_inspection_failed", message=w.MODERATION_MESSAGE,
                  param=None)
    return head, frames, [final], error

