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
from collections.abc import AsyncIterator, Callable
from typing import Any

from bench import sides
from bench.run import machine
from bench.serve import _start
from bench.serve_compare import _stop
from bench.server import instruction
from bench.timing import timed

ROOT = sides.ROOT
RESULTS = ROOT / "bench" / "PROTOCOLS_RESULTS.md"


async def _sse_data(client: Any, path: str, body: dict[str, Any],
                    pick: Callable[[dict[str, Any]], str | None],
                    headers: dict[str, str] | None = None) -> AsyncIterator[str]:
    """The texts ``pick`` finds in the ``data:`` JSON of each event of ``POST path``."""
    from httpx_sse import aconnect_sse

    async with aconnect_sse(client, "POST", path, json=body, headers=dict(headers or {})) as source:
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


def _a2a_text(payload: dict[str, Any]) -> str | None:
    """The text of an A2A streaming response's ``answer`` artifact update (JSON-RPC result)."""
    result = payload.get("result") or {}
    update = result.get("artifactUpdate") or result
    artifact = update.get("artifact") if isinstance(update, dict) else None
    if not isinstance(artifact, dict) or artifact.get("artifactId") != "answer":
        return None
    texts = [p["text"] for p in artifact.get("parts", []) if isinstance(p.get("text"), str)]
    return "".join(texts) if texts else None


def _request(name: str, message: str) -> tuple[str, dict[str, Any], Callable[..., str | None],
                                               dict[str, str] | None]:
    """(path, body, text picker, headers) of one request to endpoint ``name``."""
    if name == "SSE":
        return ("/v1/chat/stream", {"message": message}, _delta("stream_chunk", "chunk"), None)
    if name == "AI SDK":
        return ("/api/chat", {"id": str(uuid.uuid4()), "trigger": "submit-message",
                              "messages": [{"id": "m1", "role": "user",
                                            "parts": [{"type": "text", "text": message}]}]},
                _delta("text-delta", "delta"), None)
    if name == "AG-UI":
        return ("/v1/agui", {"threadId": str(uuid.uuid4()), "runId": str(uuid.uuid4()),
                             "state": {}, "tools": [], "context": [], "forwardedProps": {},
                             "messages": [{"id": "m1", "role": "user", "content": message}]},
                _delta("TEXT_MESSAGE_CONTENT", "delta"), None)
    return ("/a2a", {"jsonrpc": "2.0", "id": 1, "method": "SendStreamingMessage",
                     "params": {"message": {"messageId": str(uuid.uuid4()),
                                            "role": "ROLE_USER", "parts": [{"text": message}]}}},
            _a2a_text, {"A2A-Version": "1.0"})


ENDPOINTS = ("SSE", "AI SDK", "AG-UI", "A2A")


def _cpu_seconds(pid: int) -> float:
    """The user + system CPU time process ``pid`` has used."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _read(client: Any, name: str, n: int, pace: float) -> tuple[float, float]:
    path, body, pick, headers = _request(name, instruction(n, pace=pace))
    return await timed(_sse_data(client, path, body, pick, headers), n, name)


async def measure(url: str, pid: int, n: int, rounds: int, names: list[str],
                  pace: float) -> dict[str, dict[str, list[float]]]:
    """Per endpoint and round: first-chunk, 1-chunk and N-chunk seconds, and the server's CPU
    seconds of the 1- and N-chunk replies."""
    import httpx

    kinds = ("first", "one", "n", "cpu_one", "cpu_n")
    samples: dict[str, dict[str, list[float]]] = {
        name: {k: [] for k in kinds} for name in names}
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        for _ in range(2):  # warm up
            for name in names:
                await _read(client, name, n, pace)
        for round_ in range(rounds):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                got = samples[name]
                cpu = _cpu_seconds(pid)
                first, one = await _read(client, name, 1, pace)
                cpu_mid = _cpu_seconds(pid)
                _first, total = await _read(client, name, n, pace)
                got["cpu_n"].append(_cpu_seconds(pid) - cpu_mid)
                got["cpu_one"].append(cpu_mid - cpu)
                got["first"].append(first)
                got["one"].append(one)
                got["n"].append(total)
    return samples


def _table(samples: dict[str, dict[str, list[float]]], names: list[str], n: int) -> list[str]:
    med = {name: {k: statistics.median(v) for k, v in got.items()}
           for name, got in samples.items()}
    wall = {name: (m["n"] - m["one"]) / (n - 1) for name, m in med.items()}
    # CPU over all rounds: one reply's is a few clock ticks.
    cpu = {name: (sum(got["cpu_n"]) - sum(got["cpu_one"])) / (len(got["cpu_n"]) * (n - 1))
           for name, got in samples.items()}
    lines = ["| endpoint | first chunk (ms) | "
             f"{n}-chunk reply (ms) | per chunk, wall (us) | wall / SSE | "
             "per chunk, server CPU (us) | CPU / SSE |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name in names:
        m = med[name]
        lines.append(f"| {name} | {m['first'] * 1e3:.2f} | {m['n'] * 1e3:.2f} | "
                     f"{wall[name] * 1e6:.1f} | {wall[name] / wall['SSE']:.2f}x | "
                     f"{cpu[name] * 1e6:.1f} | {cpu[name] / cpu['SSE']:.2f}x |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--chunks", type=int, default=500)
    parser.add_argument("--pace", type=float, default=0.002,
                        help="seconds between the chunks of the paced replies")
    parser.add_argument("--only", action="append", choices=list(ENDPOINTS),
                        help="endpoints to read (default: all; SSE always)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    names = ["SSE", *[x for x in (args.only or list(ENDPOINTS)) if x != "SSE"]]
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
        fast = asyncio.run(measure(url, serve.pid, args.chunks, args.rounds, names, 0.0))
        paced = asyncio.run(measure(url, serve.pid, args.chunks, args.rounds, names, args.pace))
    finally:
        for process in reversed(processes):
            _stop(process)
    n = args.chunks
    text = "\n".join([
        "# Per chunk on each protocol against the seed SSE path (`python -m bench.protocols`)",
        "",
        f"Machine: {machine()}",
        "",
        f"One `geo-agent serve` on default settings (memory:// store, no limits), the same "
        f"process for every endpoint; {args.rounds} rounds, the endpoints' order rotating; "
        f"replies of 1 and {n} one-character chunks, each endpoint read the same way (httpx + "
        "httpx-sse, one `json.loads` per event); every reply's text checked. Wall: medians, "
        "per chunk = (total(N) - total(1)) / (N - 1). Server CPU: the server process's user + "
        "system time (`/proc`) over all rounds, the same difference; one clock tick is "
        f"{1e6 / os.sysconf('SC_CLK_TCK') / (args.rounds * (n - 1)):.1f} us per chunk, so "
        "where the replies are quick (the first table) that column is a few ticks: read its "
        "wall columns there.",
        "",
        "## The fake writing as fast as it can (the chunks may share a read)",
        "",
        *_table(fast, names, n),
        "",
        f"## The fake writing a chunk every {args.pace * 1e3:g} ms (each chunk its own read, "
        "as from a model)",
        "",
        *_table(paced, names, n),
        "",
    ])
    print(text)
    if not args.no_write:
        RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
