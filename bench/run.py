"""Streaming overhead benchmark: ``python -m bench.run [--quick]`` (from the repository root).

Starts the loopback DashScope fake (``bench.server``) in its own process, then measures each
path in a fresh worker process (``python -m bench.run --worker ...``): per-chunk cost, fixed cost
per reply, a concurrency sweep, growth with reply length, cold start, and (for both protocols)
whether stalled sessions delay a fast one. Every reply's text is checked against what the server
sent. Prints a table and writes ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PY = sys.executable

# (row, path, keyword arguments of reply())
CHUNK_ROWS = [
    ("server (bare HTTP client)", "server", {}),
    ("raw openai.AsyncOpenAI", "raw_openai", {}),
    ("ChatOpenAI.astream", "chatopenai", {}),
    ("StreamChatService", "service", {}),
    ("raw openai + tool round trip", "raw_openai", {"tool": True}),
    ("StreamChatService + tool", "service_tool", {}),
    ("raw dashscope AioGeneration", "raw_dashscope", {}),
    ("StreamChatService (tongyi)", "service_tongyi", {}),
    ("raw openai, thinking", "raw_openai", {"think": True}),
    ("StreamChatService, thinking", "service_thinking", {"think": True}),
    ("raw dashscope, thinking", "raw_dashscope", {"think": True}),
    ("StreamChatService (tongyi), thinking", "service_tongyi_thinking", {"think": True}),
    ("Qwen-Agent Assistant.run", "qwen_agent", {}),
    ("Qwen-Agent + tool", "qwen_agent_tool", {}),
]
OPTIONAL = {"qwen_agent", "qwen_agent_tool"}


# -- worker side ---------------------------------------------------------------------------------


class Wrong(Exception):
    """A reply whose text is not what the server sent."""


def _check(timing: Any, n: int, think: bool = False) -> None:
    from bench.server import expected_text, thinking_texts

    if think:  # reasoning chunks, then the answer's, all counted
        if timing.text != "".join(thinking_texts(n)):
            raise Wrong(f"thinking text mismatch: got {len(timing.text or '')} chars")
        return

    if timing.text is None:  # the bare client counts content frames only
        if timing.chunks != n:
            raise Wrong(f"expected {n} chunks, got {timing.chunks}")
        return
    if timing.text != expected_text(n):
        raise Wrong(f"text mismatch: got {len(timing.text)} chars, expected {n}")


async def _make(spec: dict) -> Any:
    from bench.paths import PATHS

    return await PATHS[spec["path"]](spec["base"], spec["native"])


async def work_chunks(spec: dict) -> dict:
    """Per-chunk cost at each n and fixed cost (time to first chunk at small n) of each row.

    The rows run interleaved, one reply each per round, so that load from elsewhere on the
    machine hits every path alike; each row's figure is the median over rounds.
    """
    small, ns, kw_rows = spec["small"], spec["ns"], spec["rows"]
    rows, replies, results = [], {}, {}
    for row, path, kwargs in kw_rows:
        try:
            replies[row] = await _make({**spec, "path": path})
            rows.append((row, kwargs))
        except ImportError as exc:
            results[row] = {"skipped": f"{type(exc).__name__}: {exc}"}

    async def measure(row: str, kwargs: dict, n: int) -> Any:
        try:
            timing = await replies[row](n, **kwargs)
            _check(timing, n, bool(kwargs.get("think")))
            return timing
        except Exception as exc:
            results[row] = {"failed": f"{type(exc).__name__}: {exc}"[:300]}
            return None

    samples: dict[str, dict[str, list[float]]] = {row: {} for row, _ in rows}
    for _ in range(spec["warmup"]):
        for row, kwargs in rows:
            await measure(row, kwargs, small)
            await measure(row, kwargs, ns[0])
    for _ in range(spec["fixed_repeats"]):
        for row, kwargs in rows:
            if row not in results and (timing := await measure(row, kwargs, small)):
                samples[row].setdefault("ttfc", []).append(timing.ttfc)
    for n in ns:
        for _ in range(spec["repeats"]):
            for row, kwargs in rows:
                if row not in results and (timing := await measure(row, kwargs, n)):
                    samples[row].setdefault(str(n), []).append(
                        (timing.last - timing.first) / (n - 1))
                    # With the reply's tail (merging chunks, saving the session): linear?
                    samples[row].setdefault(f"{n}+end", []).append(
                        (timing.end - timing.first) / (n - 1))
    for row, _ in rows:
        if row not in results:
            got = {key: statistics.median(values) for key, values in samples[row].items()}
            results[row] = {"ttfc": got.pop("ttfc"), "per_chunk": got}
    return results


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def work_concurrency(spec: dict) -> dict:
    reply = await _make(spec)
    n, sessions = spec["n"], spec["sessions"]
    _check(await reply(n), n)
    errors: list[str] = []

    async def one() -> None:
        try:
            _check(await reply(n), n)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:200])

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(sessions)))
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"wall": wall, "errors": len(errors), "first_error": errors[:1], "peak_mb": peak}
    if spec.get("idle"):
        import tracemalloc

        # Memory kept per finished (idle) session: a service keeps each session's history.
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        count = 200
        for _ in range(count // 50):
            await asyncio.gather(*(one() for _ in range(50)))
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        result["idle_kb"] = (after - before) / count / 1024
    return result


async def work_stall(spec: dict) -> dict:
    """A fast session's time to first chunk, alone and while ``stalled`` sessions wait."""
    reply = await _make(spec)
    n = 20
    _check(await reply(n), n)
    alone = []
    for _ in range(5):
        alone.append((await reply(n)).ttfc)
    stalled = [asyncio.create_task(reply(5, stall=spec["seconds"]))
               for _ in range(spec["stalled"])]
    await asyncio.sleep(0.5)  # all stalled requests are out and waiting
    busy = []
    for _ in range(5):
        timing = await reply(n)
        _check(timing, n)
        busy.append(timing.ttfc)
    still_waiting = sum(not t.done() for t in stalled)
    results = await asyncio.gather(*stalled, return_exceptions=True)
    errors = sum(isinstance(r, BaseException) for r in results)
    return {"alone": statistics.median(alone), "busy": statistics.median(busy),
            "still_waiting": still_waiting, "stalled_errors": errors}


WORKERS = {"chunks": work_chunks, "concurrency": work_concurrency, "stall": work_stall}


def worker(spec_json: str) -> None:
    spec = json.loads(spec_json)
    try:
        result = asyncio.run(WORKERS[spec["kind"]](spec))
    except ImportError as exc:
        result = {"skipped": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:
        result = {"failed": f"{type(exc).__name__}: {exc}"[:300]}
    print("RESULT " + json.dumps(result), flush=True)


# -- orchestration -------------------------------------------------------------------------------


def run_worker(spec: dict, timeout: float = 600) -> dict:
    try:
        proc = subprocess.run([PY, "-m", "bench.run", "--worker", json.dumps(spec)], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"failed": f"timed out after {timeout:g} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"failed": f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}"}


class Server:
    def __enter__(self) -> Server:
        self.proc = subprocess.Popen([PY, "-m", "bench.server"], cwd=ROOT, text=True,
                                     stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "READY":
            raise RuntimeError("bench server did not start")
        self.base, self.native = line[1], line[2]
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def cold_start(server: Server, repeats: int) -> dict:
    imports, firsts = [], []
    code_import = ("import time; t = time.perf_counter(); import bailian_geo_agent.agent; "
                   "print(time.perf_counter() - t)")
    first = f"""
import asyncio, sys
async def main():
    from bailian_geo_agent.agent import Settings, StreamChatService
    service = StreamChatService(Settings(api_key="sk-bench", base_url={server.base!r}), tools=[])
    async for event in service.stream_chat("bench n=20"):
        if event["type"] == "stream_chunk":
            print("FIRST", flush=True)
            break
        if event["type"] == "error":
            sys.exit(event["error"])
    await service.aclose()
asyncio.run(main())
"""
    from bench.server import expected_text

    asks = []
    ask_env = {**os.environ, "DASHSCOPE_API_KEY": "sk-bench", "DASHSCOPE_BASE_URL": server.base,
               "SESSION_STORE_URL": "memory://", "GEO_PROVIDER": "open"}
    for _ in range(repeats):
        # What a user runs: the command, to the first byte of the answer on stdout.
        start = time.perf_counter()
        proc = subprocess.Popen([PY, "-m", "bailian_geo_agent.agent.cli", "ask", "bench n=20"],
                                cwd=ROOT, env=ask_env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        head = proc.stdout.read(1)
        asks.append(time.perf_counter() - start)
        answer = (head + proc.stdout.read()).decode()
        proc.wait(60)
        if answer != expected_text(20) + "\n":
            raise RuntimeError(f"cold start: geo-agent ask printed {answer!r}")
        out = subprocess.run([PY, "-c", code_import], cwd=ROOT, capture_output=True, text=True)
        imports.append(float(out.stdout.strip()))
        start = time.perf_counter()
        proc = subprocess.Popen([PY, "-c", first], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        elapsed = time.perf_counter() - start
        proc.wait()
        if line.strip() != "FIRST":
            raise RuntimeError("cold start: no first chunk")
        firsts.append(elapsed)
    return {"import": statistics.median(imports), "first_chunk": statistics.median(firsts),
            "ask": statistics.median(asks)}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    from importlib.metadata import PackageNotFoundError, version

    versions = []
    for name in ("openai", "langchain-core", "langchain-openai", "langgraph", "dashscope",
                 "qwen-agent"):
        try:
            versions.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores{mem}; "
            f"Python {platform.python_version()}; " + ", ".join(versions)
            + f"; load average at start {load} (other work on the machine adds noise)")


def us(x: float) -> str:
    return f"{x * 1e6:.1f}"


def ms(x: float) -> str:
    return f"{x * 1e3:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a ~1 minute smoke run")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md")
    parser.add_argument("--only", default="", help="comma-separated sections: "
                        "chunks,growth,concurrency,stall,cold,memory")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    quick = args.quick
    sections = set(args.only.split(",")) if args.only else {
        "chunks", "growth", "concurrency", "stall", "cold", "memory"}
    started = time.perf_counter()
    lines: list[str] = []

    def out(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    out(f"# Streaming benchmark ({'quick' if quick else 'full'} run)")
    out()
    out(f"Machine: {machine()}")
    out()
    out("Loopback fake DashScope (`bench/server.py`) in its own process; one-character chunks; "
        "each path in a fresh worker process; medians of repeated runs; every reply's text "
        "checked. Per chunk = (last chunk - first chunk) / (N - 1). Fixed = time to first "
        "chunk minus the bare HTTP client's (the server's own).")
    with Server() as server:
        base = {"base": server.base, "native": server.native}
        chunk_results: dict[str, dict] = {}
        if "chunks" in sections:
            n = 500 if quick else 2000
            out()
            out(f"## Per-chunk and fixed cost (N = {n}; fixed at N = 20)")
            out()
            out("| path | per chunk (us) | x raw openai | fixed (ms) | fixed - raw openai (ms) |")
            out("|---|---:|---:|---:|---:|")
            spec = {**base, "kind": "chunks", "rows": CHUNK_ROWS, "ns": [n], "small": 20,
                    "warmup": 2, "repeats": 3 if quick else 9, "fixed_repeats": 5 if quick else 15}
            worker_result = run_worker(spec)
            for row, path, _kwargs in CHUNK_ROWS:
                result = chunk_results[row] = worker_result.get(row, worker_result)
                if "per_chunk" not in result:
                    why = result.get("skipped") or result.get("failed")
                    if path not in OPTIONAL and "skipped" not in result:
                        out(f"| {row} | FAILED: {why} | | | |")
                    else:
                        out(f"| {row} | skipped: {why} | | | |")
                    continue
                result["pc"] = result["per_chunk"][str(n)]
                ref = chunk_results.get(
                    "raw openai + tool round trip" if "tool" in row
                    else "raw openai, thinking" if "thinking" in row
                    else "raw openai.AsyncOpenAI", {})
                if row.startswith("raw dashscope") or "(tongyi)" in row:
                    ref = chunk_results.get("raw dashscope, thinking" if "thinking" in row
                                            else "raw dashscope AioGeneration", {})
                raw_pc = chunk_results.get("raw openai.AsyncOpenAI", {}).get("pc")
                server_ttfc = chunk_results.get("server (bare HTTP client)", {}).get("ttfc", 0.0)
                fixed = result["ttfc"] - server_ttfc
                result["fixed"] = fixed
                ratio = f"{result['pc'] / raw_pc:.2f}x" if raw_pc else "-"
                delta = (f"{(fixed - ref['fixed']) * 1e3:+.2f}" if ref.get("fixed") is not None
                         and ref is not result else "-")
                out(f"| {row} | {us(result['pc'])} | {ratio} | {ms(fixed)} | {delta} |")
            out()
            out("Fixed-cost deltas compare like with like: tool rows against the raw SDK's "
                "tool round trip, tongyi against the raw dashscope SDK.")
            dash = chunk_results.get("raw dashscope AioGeneration", {}).get("pc")
            tongyi = chunk_results.get("StreamChatService (tongyi)", {}).get("pc")
            if dash and tongyi:
                out(f"ChatTongyi path per chunk: {tongyi / dash:.2f}x the raw dashscope SDK.")

        if "growth" in sections:
            ns = [500, 2000] if quick else [500, 1000, 2000, 4000, 8000]
            out()
            out("## Growth: per-chunk cost (us) by reply length N")
            out()
            out("Here per chunk = (reply complete - first chunk) / (N - 1): the reply's tail "
                "(merging the chunks, saving the session) included, so flat = linear total cost.")
            out()
            out("| path | " + " | ".join(f"N={n}" for n in ns) + " | max/min |")
            out("|---|" + "---:|" * (len(ns) + 1))
            growth_rows = [("raw openai.AsyncOpenAI", "raw_openai", {}),
                           ("StreamChatService", "service", {}),
                           ("StreamChatService (tongyi)", "service_tongyi", {})]
            spec = {**base, "kind": "chunks", "rows": growth_rows, "ns": ns, "small": 20,
                    "warmup": 1, "repeats": 3, "fixed_repeats": 1}
            worker_result = run_worker(spec)
            for row, _path, _kwargs in growth_rows:
                result = worker_result.get(row, worker_result)
                if "per_chunk" not in result:
                    out(f"| {row} | FAILED: {result} |")
                    continue
                values = [result["per_chunk"][f"{n}+end"] for n in ns]
                out(f"| {row} | " + " | ".join(us(v) for v in values)
                    + f" | {max(values) / min(values):.2f} |")

        if "concurrency" in sections:
            loads = [10, 100] if quick else [10, 100, 1000]
            out()
            out("## Concurrency: S sessions x 50 chunks at once")
            out()
            out("| sessions | path | wall (s) | x raw openai | errors | peak RSS (MB) "
                "| idle session (KB) |")
            out("|---:|---|---:|---:|---:|---:|---:|")
            for sessions in loads:
                raw_wall = None
                for row, path in (("raw openai.AsyncOpenAI", "raw_openai"),
                                  ("StreamChatService", "service")):
                    walls, result = [], {}
                    for attempt in range(1 if quick or sessions >= 1000 else 3):
                        spec = {**base, "kind": "concurrency", "path": path, "n": 50,
                                "sessions": sessions,
                                "idle": path == "service" and sessions == loads[0]
                                and attempt == 0}
                        got = run_worker(spec)
                        if "wall" not in got:
                            result = got
                            break
                        walls.append(got["wall"])
                        result = {**got, **{k: v for k, v in result.items() if k == "idle_kb"}}
                    if "wall" not in result:
                        out(f"| {sessions} | {row} | FAILED: {result} | | | | |")
                        continue
                    wall = statistics.median(walls)
                    raw_wall = wall if path == "raw_openai" else raw_wall
                    ratio = f"{wall / raw_wall:.2f}x" if raw_wall else "-"
                    idle = f"{result['idle_kb']:.1f}" if "idle_kb" in result else "-"
                    errors = str(result["errors"]) + (
                        f" ({result['first_error'][0]})" if result["errors"] else "")
                    out(f"| {sessions} | {row} | {wall:.2f} | {ratio} | {errors} | "
                        f"{result['peak_mb']:.0f} | {idle} |")

        if "stall" in sections:
            out()
            out("## Stalled sessions: a fast session's first chunk while 50 wait on the server")
            out()
            out("| path | alone (ms) | with 50 stalled (ms) | extra (ms) | stalled errors |")
            out("|---|---:|---:|---:|---:|")
            for row, path in (("StreamChatService (tongyi)", "service_tongyi"),
                              ("StreamChatService (openai)", "service")):
                result = run_worker({**base, "kind": "stall", "path": path, "stalled": 50,
                                     "seconds": 3.0})
                if "alone" not in result:
                    out(f"| {row} | FAILED: {result} | | | |")
                    continue
                out(f"| {row} | {ms(result['alone'])} | {ms(result['busy'])} | "
                    f"{(result['busy'] - result['alone']) * 1e3:+.2f} | "
                    f"{result['stalled_errors']} |")

        if "cold" in sections:
            cold = cold_start(server, 3 if quick else 5)
            out()
            out("## Cold start (fresh process)")
            out()
            out("| measure | seconds |")
            out("|---|---:|")
            out(f"| `import bailian_geo_agent.agent` | {cold['import']:.3f} |")
            out(f"| process spawn to first chunk (`StreamChatService`) | "
                f"{cold['first_chunk']:.3f} |")
            out(f"| `geo-agent ask` spawn to first byte of the answer | {cold['ask']:.3f} |")
    if "memory" in sections:
        from bench.memory import long_reply_fake, reply_memory

        n = 20_000 if quick else 100_000
        out()
        out(f"## Memory of one reply ({n:,} one-character chunks, no answer cap)")
        out()
        out("| path | characters | peak RSS growth (MB) | bytes per chunk |")
        out("|---|---:|---:|---:|")
        with long_reply_fake(n) as (base, native):
            for provider in ("openai", "tongyi"):
                chars, grown = reply_memory(base, native, provider)
                out(f"| StreamChatService ({provider}) | {chars:,} | {grown:.1f} "
                    f"| {grown * 2**20 / n:.0f} |")
    out()
    out(f"Benchmark took {time.perf_counter() - started:.0f} s.")
    if not args.no_write:
        RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
