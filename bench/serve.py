"""HTTP service overhead: ``python -m bench.serve [--rounds N]`` (from the repository root).

Starts the benchmark's DashScope fake (``bench.server``) and a ``geo-agent serve`` in processes
of their own, then measures, interleaved round by round, one reply of 1 and of N one-character
chunks two ways: in-process ``StreamChatService.stream_chat``, and ``POST /v1/chat/stream`` read
with httpx + httpx-sse (the client's parsing included). First-chunk time and total time are
medians; per-chunk cost is (total(N) - total(1)) / (N - 1). Every reply's text is checked.
Prints a table and writes ``bench/SERVE_RESULTS.md``. The LangGraph Agent Server comparison of
issue 10 is not measured here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "SERVE_RESULTS.md"


def _start(args: list[str], env: dict[str, str], marker: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if marker in line:
            return process, line
    raise RuntimeError(f"{args} did not start")


async def _in_process(service, n: int) -> tuple[float, float]:
    from bench.server import expected_text, instruction

    started = time.perf_counter()
    first = None
    chunks = []
    async for event in service.stream_chat(instruction(n), str(uuid.uuid4())):
        if event["type"] == "stream_chunk":
            if first is None:
                first = time.perf_counter() - started
            chunks.append(event["chunk"])
    total = time.perf_counter() - started
    if "".join(chunks) != expected_text(n):
        raise AssertionError("in-process text differs")
    return first or total, total


async def _over_sse(client, n: int) -> tuple[float, float]:
    from httpx_sse import aconnect_sse

    from bench.server import expected_text, instruction

    started = time.perf_counter()
    first = None
    chunks = []
    async with aconnect_sse(client, "POST", "/v1/chat/stream",
                            json={"message": instruction(n)}) as source:
        async for sse in source.aiter_sse():
            if sse.event == "stream_chunk":
                if first is None:
                    first = time.perf_counter() - started
                chunks.append(json.loads(sse.data)["chunk"])
    total = time.perf_counter() - started
    if "".join(chunks) != expected_text(n):
        raise AssertionError("SSE text differs")
    return first or total, total


async def measure(base_url: str, serve_url: str, n: int, rounds: int) -> dict[str, float]:
    import httpx

    from agent import Settings, StreamChatService

    settings = Settings(api_key="sk-bench", base_url=base_url, max_retries=0,
                        session_store_url="memory://", session_idle_ttl=0)
    samples: dict[str, list[float]] = {k: [] for k in (
        "local_first", "local_1", "local_n", "sse_first", "sse_1", "sse_n")}
    async with StreamChatService(settings) as service, httpx.AsyncClient(
            base_url=serve_url, timeout=60) as client:
        for _ in range(3):  # warm up both
            await _in_process(service, n)
            await _over_sse(client, n)
        for _ in range(rounds):
            first, total = await _in_process(service, 1)
            samples["local_first"].append(first)
            samples["local_1"].append(total)
            samples["local_n"].append((await _in_process(service, n))[1])
            first, total = await _over_sse(client, 1)
            samples["sse_first"].append(first)
            samples["sse_1"].append(total)
            samples["sse_n"].append((await _over_sse(client, n))[1])
    return {k: statistics.median(v) for k, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--chunks", type=int, default=500)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1,localhost"}
    fake, ready = _start([sys.executable, "-m", "bench.server"], env, "READY ")
    base = ready.split()[1]
    serve_env = {**env, "DASHSCOPE_API_KEY": "sk-bench", "DASHSCOPE_BASE_URL": base,
                 "DASHSCOPE_MAX_RETRIES": "0", "SESSION_STORE_URL": "memory://",
                 "SESSION_IDLE_TTL": "0", "GEO_PROVIDER": "open", "GEO_AGENT_API_TOKENS": "",
                 "GEO_AGENT_REQUESTS_PER_MINUTE": "0", "GEO_AGENT_MAX_CONCURRENT_REPLIES": "0"}
    os.environ.setdefault("GEO_PROVIDER", "open")
    serve, line = _start([sys.executable, "-m", "agent.cli", "serve", "--port", "0",
                          "--log-level", "warning"], serve_env, "listening on ")
    try:
        url = line.rsplit("listening on ", 1)[1].strip()
        m = asyncio.run(measure(base, url, args.chunks, args.rounds))
    finally:
        for process in (serve, fake):
            process.terminate()
            process.wait(10)
    n = args.chunks
    local_chunk = (m["local_n"] - m["local_1"]) / (n - 1)
    sse_chunk = (m["sse_n"] - m["sse_1"]) / (n - 1)
    rows = [
        ("first chunk (ms)", m["local_first"] * 1e3, m["sse_first"] * 1e3, "ms"),
        ("1-chunk reply (ms)", m["local_1"] * 1e3, m["sse_1"] * 1e3, "ms"),
        (f"{n}-chunk reply (ms)", m["local_n"] * 1e3, m["sse_n"] * 1e3, "ms"),
        ("per chunk (us)", local_chunk * 1e6, sse_chunk * 1e6, "us"),
    ]
    lines = ["| measure | in-process stream_chat | SSE (/v1/chat/stream) | difference | ratio |",
             "|---|---|---|---|---|"]
    for name, local, sse, _unit in rows:
        lines.append(f"| {name} | {local:.2f} | {sse:.2f} | {sse - local:+.2f} | "
                     f"{sse / local:.2f}x |")
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        RESULTS.write_text(
            "# HTTP service overhead (`python -m bench.serve`)\n\n"
            f"One run, {args.rounds} interleaved rounds, medians; {n}-chunk replies of one "
            "character each; server, fake and client in three processes on this machine "
            f"({os.cpu_count()} cores). The SSE column includes the client's parsing (httpx-sse)."
            "\n\n" + table + "\n\nTargets (issue 10): per chunk <= in-process + 15 us; fixed "
            "cost <= in-process + 2 ms. The LangGraph Agent Server row was not measured.\n",
            encoding="utf-8")


if __name__ == "__main__":
    main()
