"""HTTP service overhead: ``python -m bench.serve [--rounds N]`` (from the repository root).

Starts the benchmark's DashScope fake (``bench.server``), a ``geo-agent serve`` and LangGraph's own
Agent Server (``langgraph dev``, in-memory, serving ``bench/langgraph_app/graph.py``: a
``create_agent`` graph on a stock streaming ``ChatOpenAI`` on the same fake) in processes of their
own, then measures, interleaved round by round, one reply of 1 and of N one-character chunks three
ways: in-process ``StreamChatService.stream_chat``; ``POST /v1/chat/stream`` read with httpx +
httpx-sse (the client's parsing included); and the LangGraph server read by its own SDK client
(``langgraph_sdk`` ``runs.stream``, threadless, ``stream_mode="messages-tuple"``, the mode its web
front end streams tokens with). First-chunk time and total time are medians; per-chunk cost is
(total(N) - total(1)) / (N - 1), for the LangGraph server timed from its run's pickup (its
``metadata`` event: the in-memory queue's 0.5 to 1 s poll wait cancels). The served graph's
``ChatOpenAI.astream`` and ``graph.astream(stream_mode="messages")`` also run in this process, in
the same rounds, to show where the server's per-chunk time goes. Every reply's text is checked.
Prints the tables and writes ``bench/SERVE_RESULTS.md``.

The LangGraph server runs from ``bench/.venv-langgraph`` (``bench/langgraph-requirements.txt``
under the project's constraints), made here on first use and remade when either file changes;
``--no-langgraph`` skips that column, and so does any failure to set it up or start it (with the
reason printed).

Then ``bench.scale`` (``--scale N``, default 1,000; ``--no-scale`` skips it, ``--no-chunks`` runs
only it): N concurrent SSE clients of the same ``geo-agent serve`` against N concurrent sessions
in this process, and writes its own section of ``bench/SERVE_RESULTS.md`` (the rest kept).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from bench import scale as scale_row
from bench.langgraph_peer import (
    chat_openai,
    graph_messages,
    langgraph_versions,
    load_langgraph_graph,
    over_langgraph,
    start_langgraph,
    stop,
)
from bench.timing import timed

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "SERVE_RESULTS.md"


def _start(args: list[str], env: dict[str, str], marker: str,
           cwd: Path = ROOT) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if marker in line:
            return process, line
    raise RuntimeError(f"{args} did not start")


async def _in_process(service, n: int) -> tuple[float, float]:
    from bench.server import instruction

    async def texts() -> AsyncIterator[str]:
        async for event in service.stream_chat(instruction(n), str(uuid.uuid4())):
            if event["type"] == "stream_chunk":
                yield event["chunk"]

    return await timed(texts(), n, "in-process")


async def _over_sse(client, n: int) -> tuple[float, float]:
    from httpx_sse import aconnect_sse

    from bench.server import instruction

    async def texts() -> AsyncIterator[str]:
        async with aconnect_sse(client, "POST", "/v1/chat/stream",
                                json={"message": instruction(n)}) as source:
            async for sse in source.aiter_sse():
                if sse.event == "stream_chunk":
                    yield json.loads(sse.data)["chunk"]

    return await timed(texts(), n, "SSE")


async def measure(base_url: str, serve_url: str, langgraph_url: str | None, n: int,
                  rounds: int) -> dict[str, float]:
    import httpx
    from bailian_geo_agent.agent import Settings, StreamChatService

    settings = Settings(api_key="sk-bench", base_url=base_url, max_retries=0,
                        session_store_url="memory://", session_idle_ttl=0)
    lg_client = None
    async with StreamChatService(settings) as service, httpx.AsyncClient(
            base_url=serve_url, timeout=60) as client:
        paths = {"local": lambda k: _in_process(service, k), "sse": lambda k: _over_sse(client, k)}
        if langgraph_url:
            from langgraph_sdk import get_client

            lg_client = get_client(url=langgraph_url, timeout=60)
            paths["lg"] = lambda k: over_langgraph(lg_client, k)
            # Where the server's per-chunk time goes: its model and its graph, in this process.
            model, graph, system = load_langgraph_graph(base_url)
            paths["lgmodel"] = lambda k: chat_openai(model, system, k)
            paths["lggraph"] = lambda k: graph_messages(graph, k)
        samples: dict[str, list[float]] = {
            f"{path}_{kind}": [] for path in paths for kind in ("first", "1", "n")}
        samples.update({f"{path}_{kind}": [] for path in paths for kind in ("1p", "np", "fp")})
        try:
            for _ in range(3):  # warm up all
                for run in paths.values():
                    await run(n)
            for _ in range(rounds):
                for path, run in paths.items():
                    first, total, *pickup = await run(1)
                    start = pickup[0] if pickup else 0.0  # the LangGraph run's pickup
                    samples[f"{path}_first"].append(first)
                    samples[f"{path}_1"].append(total)
                    samples[f"{path}_fp"].append(first - start)
                    samples[f"{path}_1p"].append(total - start)
                    _first, total, *pickup = await run(n)
                    samples[f"{path}_n"].append(total)
                    samples[f"{path}_np"].append(total - (pickup[0] if pickup else 0.0))
        finally:
            if lg_client is not None:
                await lg_client.aclose()
    return {k: statistics.median(v) for k, v in samples.items()}


def tables(m: dict[str, float], n: int) -> tuple[str, str, float | None]:
    """(main table, LangGraph comparison and breakdown, SSE/LangGraph per-chunk ratio)."""
    has_lg = "lg_n" in m
    # From the LangGraph run's pickup (the others have none): its queue's wait cancels.
    per_chunk = {p: (m[f"{p}_np"] - m[f"{p}_1p"]) / (n - 1)
                 for p in ("local", "sse", "lg", "lgmodel", "lggraph") if f"{p}_n" in m}
    rows = [
        ("first chunk (ms)", "first", 1e3),
        ("1-chunk reply (ms)", "1", 1e3),
        (f"{n}-chunk reply (ms)", "n", 1e3),
        ("per chunk (us)", None, 1e6),
    ]
    head = "| measure | in-process stream_chat | SSE (/v1/chat/stream) | difference | ratio |"
    rule = "|---|---|---|---|---|"
    if has_lg:
        head += " LangGraph server (SDK) | SSE / LangGraph |"
        rule += "---|---|"
    lines = [head, rule]
    for name, kind, scale in rows:
        value = {p: (per_chunk[p] if kind is None else m[f"{p}_{kind}"]) * scale
                 for p in ("local", "sse", "lg") if p in per_chunk}
        local, sse = value["local"], value["sse"]
        line = f"| {name} | {local:.2f} | {sse:.2f} | {sse - local:+.2f} | {sse / local:.2f}x |"
        if has_lg:
            line += f" {value['lg']:.2f} | {sse / value['lg']:.2f}x |"
        lines.append(line)
    if not has_lg:
        return "\n".join(lines), "", None
    ratio = per_chunk["sse"] / per_chunk["lg"]
    first_ratio = m["sse_first"] / m["lg_first"]
    verdict = "met" if ratio <= 0.5 else f"missed by {ratio - 0.5:.2f}x ({ratio / 0.5:.2f} times)"
    compare = "\n".join([
        "| comparison | SSE (/v1/chat/stream) | LangGraph server (SDK) | SSE / LangGraph "
        "| target |",
        "|---|---|---|---|---|",
        f"| per chunk: SSE / LangGraph server (us) | {per_chunk['sse'] * 1e6:.2f} | "
        f"{per_chunk['lg'] * 1e6:.2f} | {ratio:.2f}x | <= 0.5x: {verdict} |",
        f"| first chunk: SSE / LangGraph server (ms) | {m['sse_first'] * 1e3:.2f} | "
        f"{m['lg_first'] * 1e3:.2f} | {first_ratio:.2f}x | - |",
        f"| first chunk, LangGraph timed from its run's pickup (`metadata` event) (ms) | "
        f"{m['sse_first'] * 1e3:.2f} | {m['lg_fp'] * 1e3:.2f} | "
        f"{m['sse_first'] / m['lg_fp']:.2f}x | - |",
    ])
    model, graph, server = (per_chunk[p] * 1e6 for p in ("lgmodel", "lggraph", "lg"))
    breakdown = "\n".join([
        "| where the LangGraph server's per-chunk time goes | per chunk (us) | share |",
        "|---|---|---|",
        f"| its stock `ChatOpenAI.astream`, in process | {model:.2f} | {model / server:.0%} |",
        f"| + its `create_agent` graph, `astream(stream_mode=\"messages\")`, in process | "
        f"{graph - model:+.2f} | {(graph - model) / server:.0%} |",
        f"| + `langgraph dev` and the SDK over loopback HTTP | {server - graph:+.2f} | "
        f"{(server - graph) / server:.0%} |",
        f"| LangGraph server (SDK) | {server:.2f} | 100% |",
    ])
    compare += "\n\n" + breakdown
    return "\n".join(lines), compare, ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--chunks", type=int, default=500)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--no-langgraph", action="store_true",
                        help="skip the LangGraph Agent Server column")
    parser.add_argument("--no-chunks", action="store_true",
                        help="skip the per-chunk tables (and the LangGraph server)")
    parser.add_argument("--scale", type=int, default=1000, metavar="N",
                        help="concurrent clients / sessions of the scale row (default 1000)")
    parser.add_argument("--scale-chunks", type=int, default=50,
                        help="chunks per reply in the scale row (default 50)")
    parser.add_argument("--scale-rounds", type=int, default=3)
    parser.add_argument("--scale-client", choices=("aiohttp", "httpx"), default="aiohttp",
                        help="the scale row's SSE client (default aiohttp)")
    parser.add_argument("--no-scale", action="store_true", help="skip the scale row")
    args = parser.parse_args()
    if args.no_chunks:
        args.no_langgraph = True
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1,localhost"}
    os.environ["NO_PROXY"] = env["NO_PROXY"]
    fake, ready = _start([sys.executable, "-m", "bench.server"], env, "READY ")
    base = ready.split()[1]
    serve_env = {**env, "DASHSCOPE_API_KEY": "sk-bench", "DASHSCOPE_BASE_URL": base,
                 "DASHSCOPE_MAX_RETRIES": "0", "SESSION_STORE_URL": "memory://",
                 "SESSION_IDLE_TTL": "0", "GEO_PROVIDER": "open", "GEO_AGENT_API_TOKENS": "",
                 "GEO_AGENT_REQUESTS_PER_MINUTE": "0", "GEO_AGENT_MAX_CONCURRENT_REPLIES": "0",
                 "GEO_AGENT_MAX_CONNECTIONS": "0"}  # the scale row opens 1,000 at once
    os.environ.setdefault("GEO_PROVIDER", "open")
    processes = [fake]
    workdir = Path(tempfile.mkdtemp(prefix="bench-langgraph-"))
    langgraph_url = None
    skipped = "--no-langgraph" if args.no_langgraph else None
    try:
        serve, line = _start([sys.executable, "-m", "bailian_geo_agent.agent.cli", "serve",
                              "--port", "0", "--log-level", "warning"], serve_env, "listening on ")
        processes.insert(0, serve)
        url = line.rsplit("listening on ", 1)[1].strip()
        if not args.no_langgraph and not args.no_chunks:
            langgraph, started = start_langgraph(base, workdir)
            if langgraph is None:
                skipped = started
                print(f"LangGraph server column skipped: {started}", flush=True)
            else:
                processes.insert(0, langgraph)
                langgraph_url = started
        if not args.no_chunks:
            m = asyncio.run(measure(base, url, langgraph_url, args.chunks, args.rounds))
            table, compare, _ratio = tables(m, args.chunks)
            print(table)
            if compare:
                print()
                print(compare)
        if langgraph_url:  # the LangGraph server would only take CPU from the scale row
            stop(processes.pop(0))
        if not args.no_scale:
            print(f"scale: {args.scale} concurrent sessions / SSE clients, "
                  f"{args.scale_chunks} chunks each, {args.scale_rounds} rounds", flush=True)
            sm = asyncio.run(scale_row.measure(base, url, serve.pid, fake.pid, args.scale,
                                          args.scale_chunks, args.scale_rounds,
                                          args.scale_client))
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)
    if not args.no_scale:
        scale_table, _ratio, _ok = scale_row.table(sm)
        print(scale_table)
        if not args.no_write:
            scale_row.write_section(RESULTS, scale_row.section(sm, scale_table))
    if args.no_chunks:
        return
    n = args.chunks
    if args.no_write:
        return
    if langgraph_url:
        lg_note = (
            f"The LangGraph column is `langgraph dev` ({langgraph_versions()}; in-memory, "
            "`LOG_LEVEL=WARNING`, no tracing) serving `bench/langgraph_app/graph.py` "
            "(`create_agent`, no tools, the same system prompt, a stock streaming `ChatOpenAI` "
            "on the same fake), "
            "read by `langgraph_sdk`'s `runs.stream` (threadless runs, "
            "`stream_mode=\"messages-tuple\"`, the SDK's parsing included). Its 1- and "
            f"{n}-chunk replies include the in-memory queue's wait for the run (it polls every "
            "0.5 s and takes only runs created before the poll began: 0.5 to 1 s a reply); its "
            "per chunk and the last first-chunk row are timed from the run's pickup (the "
            "server's `metadata` event), so that wait cancels. The breakdown runs the served "
            "graph's model and graph in the client's process, in the same rounds.\n\n"
            + table + "\n\n" + compare + "\n\nTargets (issue 10): per chunk <= in-process + 15 us; "
            "fixed cost <= in-process + 2 ms; per chunk <= 0.5x the LangGraph server's.\n")
    else:
        lg_note = (table + "\n\nTargets (issue 10): per chunk <= in-process + 15 us; fixed cost "
                   f"<= in-process + 2 ms. The LangGraph Agent Server column was skipped: "
                   f"{skipped}.\n")
    RESULTS.write_text(
        "# HTTP service overhead (`python -m bench.serve`)\n\n"
        f"One run, {args.rounds} interleaved rounds, medians; {n}-chunk replies of one "
        "character each; each server, the fake and the client in processes of their own on this "
        f"machine ({os.cpu_count()} cores). The SSE column includes the client's parsing "
        "(httpx-sse). " + lg_note + "\n" + scale_row.kept_section(RESULTS), encoding="utf-8")


if __name__ == "__main__":
    main()
