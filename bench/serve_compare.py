"""The SSE path before/after a change, in one run: ``python -m bench.serve_compare``.

    .venv/bin/python -m bench.serve_compare --baseline <commit> [--rounds 15 --chunks 500]
    .venv/bin/python -m bench.serve_compare --env GEO_AGENT_METRICS=auth   # "after" settings

Starts the benchmark's DashScope fake and two ``geo-agent serve`` processes, one running the
baseline commit's code (a temporary git worktree, see ``bench.sides``) and one this checkout's,
each on its default settings (memory:// store, no limits) plus ``--env`` on the "after" side.
Each round reads one reply of 1 and of N one-character chunks from each server with httpx +
httpx-sse, the sides alternating which goes first; every reply's text is checked. Fixed cost =
first-chunk time; per chunk = (total(N) - total(1)) / (N - 1); medians over rounds, and
``after / before`` as the ratio of medians. At the end the "after" server's ``/metrics`` is read
(when it serves one) to show the replies were counted. Writes ``bench/SERVE_COMPARE_RESULTS.md``
unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import sides
from bench.run import machine
from bench.serve import _over_sse, _start

ROOT = sides.ROOT
RESULTS = ROOT / "bench" / "SERVE_COMPARE_RESULTS.md"


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def measure(urls: dict[str, str], n: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Per side: first-chunk, 1-chunk and N-chunk seconds, one sample a round."""
    import httpx

    samples: dict[str, dict[str, list[float]]] = {
        side: {"first": [], "one": [], "n": []} for side in urls}
    clients = {side: httpx.AsyncClient(base_url=url, timeout=60) for side, url in urls.items()}
    try:
        for _ in range(3):  # warm up both
            for client in clients.values():
                await _over_sse(client, n)
        for round_ in range(rounds):
            order = list(urls) if round_ % 2 == 0 else list(reversed(urls))
            for side in order:
                first, one = await _over_sse(clients[side], 1)
                _first, total = await _over_sse(clients[side], n)
                samples[side]["first"].append(first)
                samples[side]["one"].append(one)
                samples[side]["n"].append(total)
    finally:
        for client in clients.values():
            await client.aclose()
    return samples


def _metrics_lines(url: str) -> list[str]:
    import httpx

    response = httpx.get(f"{url}/metrics", timeout=10)
    if response.status_code != 200:
        return [f"(`/metrics` answered {response.status_code})"]
    wanted = ("geo_agent_replies_started_total", "geo_agent_replies_finished_total",
              "geo_agent_chunks_sent_total")
    return [line for line in response.text.splitlines() if line.startswith(wanted)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="commit to compare with")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--chunks", type=int, default=500)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting of the 'after' server (repeatable)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    base_env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
    os.environ["NO_PROXY"] = base_env["NO_PROXY"]
    work = Path(tempfile.mkdtemp(prefix="bench-serve-baseline-"))
    before_root = sides.add_baseline(args.baseline, work)
    roots = {"before": before_root, "after": ROOT}
    processes: list[subprocess.Popen[str]] = []
    try:
        fake, ready = _start([sys.executable, "-m", "bench.server"], sides.env(ROOT, base_env),
                             "READY ")
        processes.append(fake)
        base = ready.split()[1]
        urls: dict[str, str] = {}
        for side, root in roots.items():
            env = {**sides.env(root, base_env), "DASHSCOPE_API_KEY": "sk-bench",
                   "DASHSCOPE_BASE_URL": base, "DASHSCOPE_MAX_RETRIES": "0",
                   "SESSION_STORE_URL": "memory://", "SESSION_IDLE_TTL": "0",
                   "GEO_PROVIDER": "open", "GEO_AGENT_API_TOKENS": "",
                   "GEO_AGENT_REQUESTS_PER_MINUTE": "0", "GEO_AGENT_MAX_CONCURRENT_REPLIES": "0"}
            if side == "after":
                env.update(extra)
            serve, line = _start([sys.executable, "-m", "bailian_geo_agent.agent.cli", "serve",
                                  "--port", "0", "--log-level", "warning"], env,
                                 "listening on ", root)
            processes.append(serve)
            urls[side] = line.rsplit("listening on ", 1)[1].strip()
        samples = asyncio.run(measure(urls, args.chunks, args.rounds))
        counted = _metrics_lines(urls["after"])
    finally:
        for process in reversed(processes):
            _stop(process)
        sides.remove_baseline(before_root)
    n = args.chunks
    med = {side: {k: statistics.median(v) for k, v in got.items()} for side, got in samples.items()}
    per_chunk = {side: (m["n"] - m["one"]) / (n - 1) for side, m in med.items()}
    rows = [("first chunk (ms)", {s: med[s]["first"] * 1e3 for s in med}),
            ("1-chunk reply (ms)", {s: med[s]["one"] * 1e3 for s in med}),
            (f"{n}-chunk reply (ms)", {s: med[s]["n"] * 1e3 for s in med}),
            ("per chunk (us)", {s: per_chunk[s] * 1e6 for s in med})]
    lines = ["| measure | before | after | after / before |", "|---|---:|---:|---:|"]
    for name, value in rows:
        b, a = value["before"], value["after"]
        lines.append(f"| {name} | {b:.2f} | {a:.2f} | {a / b:.2f}x |")
    settings = ", ".join(f"`{k}={v}`" for k, v in extra.items()) or "none"
    text = "\n".join([
        "# The SSE path before/after, in one run (`python -m bench.serve_compare`)",
        "",
        f"Machine: {machine()}",
        "",
        f"Baseline `{args.baseline}` against this checkout; {args.rounds} rounds, sides "
        f"alternating first; replies of 1 and {n} one-character chunks over `POST "
        "/v1/chat/stream`, read with httpx + httpx-sse; medians; every reply's text checked. "
        f"Both servers on default settings (memory:// store, no limits); the after side's extra "
        f"settings: {settings}.",
        "",
        *lines,
        "",
        "The after server's own count of what it served (`/metrics`, read at the end):",
        "",
        "```",
        *counted,
        "```",
        "",
    ])
    print(text)
    if not args.no_write:
        RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
