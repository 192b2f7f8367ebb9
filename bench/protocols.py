"""Per chunk on each wire protocol against the seed SSE path, in one run: ``python -m
bench.protocols``.

    .venv/bin/python -m bench.protocols [--rounds 15 --chunks 500]

Starts the benchmark's DashScope fake and one ``geo-agent serve`` process on its default
settings (memory:// store, no limits). Each round reads a reply of 1 and of N one-character
chunks over every endpoint (seed SSE ``/v1/chat/stream``, AI SDK ``/api/chat``, AG-UI
``/v1/agui``, A2A ``/a2a``), the endpoints' order rotating by round; every reply's text is
checked. Each is read the same way (httpx + httpx-sse, one ``json.loads`` per event), so the
difference is the server's. Fixed cost = first-chunk time; per chunk = (total(N) - total(1)) /
(N - 1); medians over rounds; ``endpoint / SSE`` as the ratio of medians. Writes
``bench/PROTOCOLS_RESULTS.md`` unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from bench import sides
from bench.run import machine
from bench.serve import _over_sse, _start
from bench.serve_compare import _stop
from bench.server import instruction
from bench.timing import timed

ROOT = sides.ROOT
RESULTS = ROOT / "bench" / "PROTOCOLS_RESULTS.md"
Reader = Callable[[Any, int], Awaitable[tuple[float, float]]]


async def _sse_data(client: Any, path: str, body: dict[str, Any],
                    pick: Callable[[dict[str, Any]], str | None]) -> AsyncIterator[str]:
    """The texts ``pick`` finds in the ``data:`` JSON of each event of ``POST path``."""
    from httpx_sse import aconnect_sse

    async with aconnect_sse(client, "POST", path, json=body) as source:
        source.response.raise_for_status()
        async for sse in source.aiter_sse():
            if not sse.data or sse.data[0] != "{":
                continue  # [DONE]
            text = pick(json.loads(sse.data))
            if text is not None:
                yield text


def _delta(kind: str, field: str) -> Callable[[dict[str, Any]], str | None]:
    def pick(part: dict[str, Any]) -> str | None:
        return part.get(field) if part.get("type") == kind else None
    return pick


async def _over_aisdk(client: Any, n: int) -> tuple[float, float]:
    body = {"id": str(uuid.uuid4()), "trigger": "submit-message",
            "messages": [{"id": "m1", "role": "user",
                          "parts": [{"type": "text", "text": instruction(n)}]}]}
    return await timed(_sse_data(client, "/api/chat", body, _delta("text-delta", "delta")),
                       n, "AI SDK")


async def _over_agui(client: Any, n: int) -> tuple[float, float]:
    body = {"threadId": str(uuid.uuid4()), "runId": str(uuid.uuid4()), "state": {},
            "messages": [{"id": "m1", "role": "user", "content": instruction(n)}],
            "tools": [], "context": [], "forwardedProps": {}}
    return await timed(_sse_data(client, "/v1/agui", body,
                                 _delta("TEXT_MESSAGE_CONTENT", "delta")), n, "AG-UI")


def _a2a_text(payload: dict[str, Any]) -> str | None:
    """The text of an A2A streaming response's artifact update (JSON-RPC result)."""
    result = payload.get("result") or {}
    update = result.get("artifactUpdate") or result
    artifact = update.get("artifact") if isinstance(update, dict) else None
    if not isinstance(artifact, dict):
        return None
    texts = [p["text"] for p in artifact.get("parts", []) if isinstance(p.get("text"), str)]
    return "".join(texts) if texts else None


async def _over_a2a(client: Any, n: int) -> tuple[float, float]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "SendStreamingMessage",
            "params": {"message": {"messageId": str(uuid.uuid4()), "role": "ROLE_USER",
                                   "parts": [{"text": instruction(n)}]}}}
    return await timed(_sse_data(client, "/a2a", body, _a2a_text), n, "A2A")


READERS: dict[str, Reader] = {"SSE": _over_sse, "AI SDK": _over_aisdk,
                              "AG-UI": _over_agui, "A2A": _over_a2a}


async def measure(url: str, n: int, rounds: int,
                  names: list[str]) -> dict[str, dict[str, list[float]]]:
    """Per endpoint: first-chunk, 1-chunk and N-chunk seconds, one sample a round."""
    import httpx

    samples = {name: {"first": [], "one": [], "n": []} for name in names}
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for _ in range(3):  # warm up
            for name in names:
                await READERS[name](client, n)
        for round_ in range(rounds):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                first, one = await READERS[name](client, 1)
                _first, total = await READERS[name](client, n)
                samples[name]["first"].append(first)
                samples[name]["one"].append(one)
                samples[name]["n"].append(total)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--chunks", type=int, default=500)
    parser.add_argument("--only", action="append", choices=list(READERS),
                        help="endpoints to read (default: all; SSE always)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    names = ["SSE", *[x for x in (args.only or list(READERS)) if x != "SSE"]]
    base_env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
    os.environ["NO_PROXY"] = base_env["NO_PROXY"]
    processes: list[subprocess.Popen[str]] = []
    try:
        fake, ready = _start([sys.executable, "-m", "bench.server"], sides.env(ROOT, base_env),
                             "READY ")
        processes.append(fake)
        env = {**sides.env(ROOT, base_env), "DASHSCOPE_API_KEY": "sk-bench",
               "DASHSCOPE_BASE_URL": ready.split()[1], "DASHSCOPE_MAX_RETRIES": "0",
               "SESSION_STORE_URL": "memory://", "SESSION_IDLE_TTL": "0",
               "GEO_PROVIDER": "open", "GEO_AGENT_API_TOKENS": "",
               "GEO_AGENT_REQUESTS_PER_MINUTE": "0", "GEO_AGENT_MAX_CONCURRENT_REPLIES": "0"}
        serve, line = _start([sys.executable, "-m", "bailian_geo_agent.agent.cli", "serve",
                              "--port", "0", "--log-level", "warning"], env, "listening on ")
        processes.append(serve)
        url = line.rsplit("listening on ", 1)[1].strip()
        samples = asyncio.run(measure(url, args.chunks, args.rounds, names))
    finally:
        for process in reversed(processes):
            _stop(process)
    n = args.chunks
    med = {name: {k: statistics.median(v) for k, v in got.items()}
           for name, got in samples.items()}
    per_chunk = {name: (m["n"] - m["one"]) / (n - 1) for name, m in med.items()}
    lines = ["| endpoint | first chunk (ms) | 1-chunk reply (ms) | "
             f"{n}-chunk reply (ms) | per chunk (us) | per chunk / SSE |",
             "|---|---:|---:|---:|---:|---:|"]
    for name in names:
        m = med[name]
        lines.append(f"| {name} | {m['first'] * 1e3:.2f} | {m['one'] * 1e3:.2f} | "
                     f"{m['n'] * 1e3:.2f} | {per_chunk[name] * 1e6:.1f} | "
                     f"{per_chunk[name] / per_chunk['SSE']:.2f}x |")
    text = "\n".join([
        "# Per chunk on each protocol against the seed SSE path (`python -m bench.protocols`)",
        "",
        f"Machine: {machine()}",
        "",
        f"One `geo-agent serve` on default settings (memory:// store, no limits); "
        f"{args.rounds} rounds, the endpoints' order rotating; replies of 1 and {n} "
        "one-character chunks, each endpoint read with httpx + httpx-sse and one `json.loads` "
        "per event; medians; every reply's text checked.",
        "",
        *lines,
        "",
    ])
    print(text)
    if not args.no_write:
        RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
