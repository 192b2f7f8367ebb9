"""Client helpers: read a reply with httpx + httpx-sse, check its shape."""

from __future__ import annotations

import json
from typing import Any

import httpx
from httpx_sse import aconnect_sse


async def read_sse(client: httpx.AsyncClient, path: str, body: Any,
                   headers: dict[str, str] | None = None) -> list[tuple[str, str, dict]]:
    """Every SSE event of the reply as ``(event, id, data dict)``."""
    events = []
    async with aconnect_sse(client, "POST", path, json=body, headers=headers) as source:
        assert source.response.status_code == 200, await source.response.aread()
        async for sse in source.aiter_sse():
            if not sse.data:  # httpx-sse turns a keep-alive comment after an id into this
                continue
            events.append((sse.event, sse.id, json.loads(sse.data)))
    return events


def check_reply(events: list[tuple[str, str, dict]]) -> str:
    """The reply's text, after checking its whole shape: ``event:`` = type, ids 1..n, one
    message and session id, start first, one terminal event last, documented keys only."""
    assert [e[1] for e in events] == [str(i) for i in range(1, len(events) + 1)]
    assert all(name == data["type"] for name, _, data in events)
    datas = [d for _, _, d in events]
    assert datas[0]["type"] == "stream_start"
    assert datas[-1]["type"] in ("stream_end", "error")
    assert [d["type"] for d in datas].count("stream_start") == 1
    assert sum(d["type"] in ("stream_end", "error") for d in datas) == 1
    assert len({d["message_id"] for d in datas}) == 1
    assert len({d["session_id"] for d in datas}) == 1
    keys = {"stream_start": ["type", "message_id", "session_id"],
            "stream_chunk": ["type", "message_id", "session_id", "chunk"],
            "stream_end": ["type", "message_id", "session_id"],
            "error": ["type", "message_id", "session_id", "error"],
            "map_action": ["type", "message_id", "session_id", "action"],
            "tool_start": ["type", "message_id", "session_id", "tool", "arguments",
                           "tool_call_id"],
            "tool_end": ["type", "message_id", "session_id", "tool", "result", "tool_call_id"]}
    for d in datas:
        assert list(d) == keys[d["type"]], d
    return "".join(d["chunk"] for d in datas if d["type"] == "stream_chunk")
