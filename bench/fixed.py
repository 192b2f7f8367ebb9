"""What every request pays once (issue 24 item 5), before/after a change, against the raw SDK.

    .venv/bin/python -m bench.fixed --baseline <commit> [--rounds 7] [--only fixed,burst,cold]

Three measures, each beside the raw openai SDK (``openai.AsyncOpenAI``, no tools) on the same
loopback fake (``bench/server.py``), every reply's text checked:

* ``fixed``: time to the first chunk of a 20-chunk reply, minus the raw SDK's in the same worker
  process (rows interleaved, one reply each per repetition): ``StreamChatService`` with no
  tools, with the geo tools on the default path (``tools=None``, ``GEO_PROVIDER=open``; the
  map tools are left out, ``agent.tool_selection``) and with ``events={"map_action"}`` (all
  16 tools sent); and a tool round trip (two model calls, the geo tools plus a weather tool)
  against the raw SDK's own round trip with the weather tool.
* ``burst``: time to the first text of a 2,000-chunk reply the fake writes in one go
  (``burst=1``: the client reads 16 KiB, about 80 chunks, per read), service with the geo
  tools and raw SDK.
* ``cold``: a fresh process to its first chunk (interpreter start, imports, the first request):
  a script using ``StreamChatService`` against one using the raw SDK.
* ``wall``: 200 concurrent 50-chunk sessions of ``StreamChatService`` (``bench.run``'s
  concurrency worker), wall time per side.

Each round runs one fresh worker per side (``before``: the baseline commit in a temporary git
worktree, ``after``: this checkout), sides alternating which goes first, and the cold processes
of both sides and of the raw SDK, interleaved. Medians over rounds. Writes
``bench/FIXED_RESULTS.md`` unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import sides as sides_
from bench.run import Server, machine

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
BURST = 2000
SMALL = 20
FIXED_ROWS = ["service, no tools", "service + geo tools", "service + geo tools, map_action",
              "service + geo tools, tool round trip"]
REFERENCE = {FIXED_ROWS[3]: "raw, tool round trip"}
"""The raw SDK's row each row is compared with (default: ``raw``, one call, no tools)."""
BURST_ROWS = ["service + geo tools"]

RAW_COLD = """
import asyncio, sys, openai
async def main():
    client = openai.AsyncOpenAI(api_key="sk-bench", base_url=sys.argv[1])
    stream = await client.chat.completions.create(
        model="qwen-plus", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "bench n=20"}])
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            print("FIRST", flush=True)
            break
    await stream.close()
    await client.close()
asyncio.run(main())
"""
SERVICE_COLD = """
import asyncio, sys
async def main():
    from bailian_geo_agent.agent import Settings, StreamChatService
    service = StreamChatService(Settings(api_key="sk-bench", base_url=sys.argv[1]), tools=[])
    async for event in service.stream_chat("bench n=20"):
        if event["type"] == "stream_chunk":
            print("FIRST", flush=True)
            break
        if event["type"] == "error":
            sys.exit(event["error"])
    await service.aclose()
asyncio.run(main())
"""


# -- worker: one process, one side -----------------------------------------------------------


async def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    from bailian_geo_agent.agent import Settings, StreamChatService
    from bailian_geo_agent.tools.config import GeoConfig

    from bench.paths import PATHS
    from bench.run import _check

    base, native = spec["base"], spec["native"]
    raw = await PATHS["raw_openai"](base, native)

    def settings() -> Settings:
        return Settings(api_key="sk-bench", base_url=base, native_base_url=native,
                        model="qwen-plus", session_store_url="memory://",
                        geo=GeoConfig(provider="open"))

    plain = StreamChatService(settings(), tools=[])
    geo = StreamChatService(settings())
    from bailian_geo_agent.tools import GeoToolkit
    from langchain_core.tools import tool

    from bench.paths import TOOL_RESULT

    @tool
    def get_weather(city: str) -> str:
        """Current weather for a city, e.g. 北京."""
        return TOOL_RESULT

    geo_config = GeoConfig(provider="open")
    round_trip = StreamChatService(
        settings(), tools=[*GeoToolkit(config=geo_config).get_tools(), get_weather])

    def service_reply(service: StreamChatService, events: set[str] | None = None,
                      tool: bool = False) -> Any:
        async def reply(n: int, burst: bool = False) -> Any:
            from bench.paths import _Clock
            from bench.server import instruction

            clock = _Clock()
            message = instruction(n, tool=tool, burst=burst)
            async for event in service.stream_chat(message, events=events):
                if event["type"] == "stream_chunk":
                    clock.add(event["chunk"])
                elif event["type"] == "error":
                    raise RuntimeError(event["error"])
            return clock.done()
        return reply

    rows = {"raw": raw, FIXED_ROWS[0]: service_reply(plain), FIXED_ROWS[1]: service_reply(geo),
            FIXED_ROWS[2]: service_reply(geo, {"map_action"}),
            "raw, tool round trip": lambda n, **kw: raw(n, tool=True, **kw),
            FIXED_ROWS[3]: service_reply(round_trip, tool=True)}
    samples: dict[str, list[float]] = {}

    async def measure(row: str, n: int, key: str) -> None:
        timing = await rows[row](n, **({"burst": True} if n == BURST else {}))
        _check(timing, n)
        samples.setdefault(key, []).append(timing.ttfc)

    for _ in range(spec["warmup"]):
        for row in rows:
            await measure(row, SMALL, "warmup")
            await measure(row, BURST, "warmup")
    for _ in range(spec["repeats"]):
        for row in rows:
            await measure(row, SMALL, f"fixed {row}")
    for _ in range(spec["repeats"]):
        for row in ("raw", *BURST_ROWS):
            await measure(row, BURST, f"burst {row}")
    for service in (plain, geo, round_trip):
        await service.aclose()
    return {key: statistics.median(values) for key, values in samples.items()}


# -- orchestration ---------------------------------------------------------------------------


def run_worker(root: Path, spec: dict[str, Any]) -> dict[str, float]:
    # cwd: this checkout's bench (a baseline may predate it); the side's own package.
    proc = subprocess.run([PY, "-m", "bench.fixed", "--worker", json.dumps(spec)], cwd=ROOT,
                          env=sides_.env(root), capture_output=True, text=True, timeout=900)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, float] = json.loads(line[7:])
            return result
    raise RuntimeError(f"{root}: exit {proc.returncode}: {proc.stderr.strip()[-800:]}")


def cold(root: Path, code: str, base: str) -> float:
    """Seconds from spawning a process to its first chunk."""
    start = time.perf_counter()
    proc = subprocess.Popen([PY, "-c", code, base], cwd=root, env=sides_.env(root),
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - start
    proc.wait(60)
    if line.strip() != "FIRST":
        raise RuntimeError(f"cold start in {root}: no first chunk")
    return elapsed


def wall(root: Path, spec: dict[str, Any], sessions: int = 200) -> float:
    """Seconds for ``sessions`` concurrent 50-chunk replies of the service (texts checked)."""
    worker = {**spec, "kind": "concurrency", "path": "service", "n": 50, "sessions": sessions}
    proc = subprocess.run([PY, "-m", "bench.run", "--worker", json.dumps(worker)], cwd=ROOT,
                          env=sides_.env(root), capture_output=True, text=True, timeout=900)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
            if result.get("errors") or "wall" not in result:
                raise RuntimeError(f"{root}: {result}")
            return float(result["wall"])
    raise RuntimeError(f"{root}: exit {proc.returncode}: {proc.stderr.strip()[-800:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="HEAD", help="commit to compare with")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=7, help="replies per row per worker")
    parser.add_argument("--only", default="fixed,burst,cold,wall")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(asyncio.run(_worker(json.loads(args.worker)))), flush=True)
        return
    only = set(args.only.split(","))
    baseline = subprocess.run(["git", "rev-parse", "--short", args.baseline], cwd=ROOT,
                              check=True, capture_output=True, text=True).stdout.strip()
    after = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    after += " + uncommitted changes" if dirty else ""
    work = Path(tempfile.mkdtemp(prefix="bench-fixed-"))
    before_root = sides_.add_baseline(baseline, work)
    roots = {"before": before_root, "after": ROOT}
    got: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    colds: dict[str, list[float]] = {"raw": [], "before": [], "after": []}
    walls: dict[str, list[float]] = {"before": [], "after": []}
    header = machine()
    try:
        with Server() as server:
            spec = {"base": server.base, "native": server.native, "warmup": 2,
                    "repeats": args.repeats}
            for round_ in range(args.rounds):
                order = ["before", "after"] if round_ % 2 == 0 else ["after", "before"]
                if only & {"fixed", "burst"}:
                    for side in order:
                        for key, value in run_worker(roots[side], spec).items():
                            got[side].setdefault(key, []).append(value)
                if "cold" in only:
                    for side in ("raw", *order):
                        root = ROOT if side == "raw" else roots[side]
                        code = RAW_COLD if side == "raw" else SERVICE_COLD
                        colds[side].append(cold(root, code, server.base))
                if "wall" in only:
                    for side in order:
                        walls[side].append(wall(roots[side], spec))
                print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    finally:
        sides_.remove_baseline(before_root)
    text = report(args, baseline, after, header, got, colds, walls, only)
    print(text)
    if not args.no_write:
        (ROOT / "bench" / "FIXED_RESULTS.md").write_text(text, encoding="utf-8")


def report(args: argparse.Namespace, baseline: str, after: str, header: str,
           got: dict[str, dict[str, list[float]]], colds: dict[str, list[float]],
           walls: dict[str, list[float]], only: set[str]) -> str:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    lines = [
        "# Fixed costs: before/after against the raw openai SDK (`python -m bench.fixed`)",
        "",
        f"Machine: {header}",
        "",
        f"Before: `{baseline}`; after: `{after}`. {args.rounds} rounds, one fresh worker per "
        f"side per round (sides alternating first), {args.repeats} replies per row per worker "
        "(median), then the median over rounds; every reply's text checked.",
    ]
    if "fixed" in only:
        lines += ["", f"## Fixed cost: first chunk of a {SMALL}-chunk reply minus the raw SDK's "
                  "(same worker)", "",
                  "| path | before (ms) | after (ms) | after - before (ms) |",
                  "|---|---:|---:|---:|"]
        for row in FIXED_ROWS:
            cells = []
            reference = REFERENCE.get(row, "raw")
            for side in ("before", "after"):
                deltas = [s - r for s, r in zip(got[side][f"fixed {row}"],
                                                got[side][f"fixed {reference}"], strict=True)]
                cells.append(med(deltas) * 1e3)
            lines.append(f"| {row} (minus {reference}) | {cells[0]:.2f} | {cells[1]:.2f} | "
                         f"{cells[1] - cells[0]:+.2f} |")
        for reference in ("raw", "raw, tool round trip"):
            raw = [med(got[s][f"fixed {reference}"]) * 1e3 for s in ("before", "after")]
            lines.append(f"| {reference}: its own first chunk | {raw[0]:.2f} | {raw[1]:.2f} | |")
    if "burst" in only:
        lines += ["", f"## First text of a {BURST:,}-chunk burst", "",
                  "| path | before (ms) | after (ms) |", "|---|---:|---:|"]
        for row in ("raw", *BURST_ROWS):
            cells = [med(got[s][f"burst {row}"]) * 1e3 for s in ("before", "after")]
            name = "raw openai.AsyncOpenAI" if row == "raw" else f"StreamChatService ({row})"
            lines.append(f"| {name} | {cells[0]:.2f} | {cells[1]:.2f} |")
    if "cold" in only:
        lines += ["", "## Cold start: process spawn to first chunk", "",
                  "| process | seconds | minus raw (s) |", "|---|---:|---:|"]
        raw = med(colds["raw"])
        lines.append(f"| raw openai.AsyncOpenAI | {raw:.3f} | |")
        for side in ("before", "after"):
            value = med(colds[side])
            lines.append(f"| StreamChatService, {side} | {value:.3f} | {value - raw:+.3f} |")
    if "wall" in only:
        before, after_ = med(walls["before"]), med(walls["after"])
        lines += ["", "## 200 concurrent sessions x 50 chunks: wall", "",
                  "| before (s) | after (s) | after / before |", "|---:|---:|---:|",
                  f"| {before:.3f} | {after_:.3f} | {after_ / before:.2f}x |"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
