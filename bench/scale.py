"""Scale: N concurrent clients of one ``geo-agent serve`` against N sessions in one process.

Run by ``python -m bench.serve`` after its per-chunk table (``--scale N``, default 1,000;
``--no-scale`` skips it, ``--no-chunks`` runs only this). Each round runs both sides, the order
alternating round by round, on the same fake (``bench.server``, its own process):

* in-process: N concurrent ``StreamChatService.stream_chat`` sessions (distinct session ids,
  the server's settings: ``memory://`` store, ``sk-bench``, the fake's URL, default tools) in this
  process; wall from the start to the last session's end;
* over HTTP: N concurrent SSE clients, each ``POST /v1/chat/stream`` with its own message and
  session id, against the one ``geo-agent serve`` process (no limits); all clients in this
  process on one ``aiohttp.ClientSession`` (its C HTTP parser; ``--scale-client httpx``: one
  ``httpx.AsyncClient``, pool raised to N, read with httpx-sse, as ``tests/server/test_scale.py``
  does, but its pool's bookkeeping is quadratic in the connections and makes the client, not the
  server, the bottleneck); wall from the first request to the last reply's end.

Every reply is checked: events ``stream_start``, ``stream_chunk``s, ``stream_end``, all of the
client's session, text exactly ``expected_text(n)``; a wrong or failed reply fails the row.
CPU seconds of this process, the server and the fake are read around each side
(``/proc/<pid>/stat`` via psutil) to show where the time goes; the server's peak RSS is its
``VmHWM``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

try:
    from orjson import loads as _loads
except ImportError:  # pragma: no cover
    from json import loads as _loads

from bailian_geo_agent.agent.cli._startup import SERVING_GC_THRESHOLD

HEADING = "## Scale: concurrent SSE clients against in-process sessions"
TARGET = 1.3


def _cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of process ``pid``, or of this process (all threads)."""
    if pid is None:
        return time.process_time()
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _message(i: int, n: int) -> str:
    from bench.server import instruction

    return f"{instruction(n)} client={i}"  # the fake reads n=; each client's message is its own


async def _local_one(service: Any, i: int, n: int, sid: str) -> str | None:
    """One in-process session; ``None`` when its reply is right, else what was wrong."""
    from bench.server import expected_text

    types, chunks = [], []
    async for event in service.stream_chat(_message(i, n), sid):
        types.append(event["type"])
        if event["session_id"] != sid:
            return f"session {event['session_id']} in {sid}'s reply"
        if event["type"] == "stream_chunk":
            chunks.append(event["chunk"])
        elif event["type"] == "error":
            return f"error event: {event['error']}"
    if types[0] != "stream_start" or types[-1] != "stream_end":
        return f"events {types[0]} ... {types[-1]}"
    if "".join(chunks) != expected_text(n):
        return "text differs"
    return None


async def _sse_one(client: Any, i: int, n: int, sid: str) -> str | None:
    """One SSE client; ``None`` when its reply is right, else what was wrong."""
    from httpx_sse import aconnect_sse

    from bench.server import expected_text

    types, chunks = [], []
    async with aconnect_sse(client, "POST", "/v1/chat/stream",
                            json={"message": _message(i, n), "session_id": sid}) as source:
        if source.response.status_code != 200:
            return f"HTTP {source.response.status_code}"
        async for sse in source.aiter_sse():
            if not sse.data:
                continue
            data = json.loads(sse.data)
            if sse.event != data["type"] or data["session_id"] != sid:
                return f"event {sse.event} of session {data['session_id']} in {sid}'s reply"
            types.append(sse.event)
            if sse.event == "stream_chunk":
                chunks.append(data["chunk"])
            elif sse.event == "error":
                return f"error event: {data['error']}"
    if not types or types[0] != "stream_start" or types[-1] != "stream_end":
        return f"events {types[:1]} ... {types[-1:]}"
    if "".join(chunks) != expected_text(n):
        return "text differs"
    return None


async def _aiohttp_one(session: Any, url: str, i: int, n: int, sid: str) -> str | None:
    """One SSE client read with aiohttp (its C HTTP parser, lines split by its stream reader)."""
    from bench.server import expected_text

    types, chunks = [], []
    event = ""
    async with session.post(url, json={"message": _message(i, n), "session_id": sid}) as resp:
        if resp.status != 200:
            return f"HTTP {resp.status}"
        async for raw in resp.content:
            line = raw.rstrip(b"\r\n")
            if line.startswith(b"event:"):
                event = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data = _loads(line[5:])
                if event != data["type"] or data["session_id"] != sid:
                    return f"event {event} of session {data['session_id']} in {sid}'s reply"
                types.append(event)
                if event == "stream_chunk":
                    chunks.append(data["chunk"])
                elif event == "error":
                    return f"error event: {data['error']}"
    if not types or types[0] != "stream_start" or types[-1] != "stream_end":
        return f"events {types[:1]} ... {types[-1:]}"
    if "".join(chunks) != expected_text(n):
        return "text differs"
    return None


async def _wave(one: Any, clients: int, n: int, pids: dict[str, int | None],
                tuned: bool = False) -> dict[str, Any]:
    """``clients`` concurrent replies by ``one``: wall, failures, CPU seconds per process
    (``tuned``: with this process's collector set as ``geo-agent serve`` sets its own)."""
    sids = [str(uuid.uuid4()) for _ in range(clients)]

    async def guarded(i: int) -> str | None:
        try:
            return await one(i, n, sids[i])
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"[:200]

    gc.collect()
    if tuned:  # as ``geo-agent serve`` runs: what exists frozen, collections less often
        threshold = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(*SERVING_GC_THRESHOLD)
    collecting = [0.0, 0.0]  # this process's time in the garbage collector; since

    def timed(phase: str, _info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            collecting[1] = now
        else:
            collecting[0] += now - collecting[1]

    gc.callbacks.append(timed)
    cpu = {name: _cpu(pid) for name, pid in pids.items()}
    started = time.perf_counter()
    try:
        results = await asyncio.gather(*(guarded(i) for i in range(clients)))
    finally:
        gc.callbacks.remove(timed)
        if tuned:
            gc.set_threshold(*threshold)
            gc.unfreeze()
    wall = time.perf_counter() - started
    cpu = {name: _cpu(pid) - cpu[name] for name, pid in pids.items()}
    failures = [r for r in results if r is not None]
    return {"wall": wall, "cpu": cpu, "gc": collecting[0], "failed": len(failures),
            "first_failure": failures[:1]}


async def measure(base_url: str, serve_url: str, server_pid: int, fake_pid: int,
                  clients: int, n: int, rounds: int, client_kind: str = "aiohttp"
                  ) -> dict[str, Any]:
    import aiohttp
    import httpx
    from bailian_geo_agent.agent import Settings, StreamChatService

    settings = Settings(api_key="sk-bench", base_url=base_url, max_retries=0,
                        session_store_url="memory://", session_idle_ttl=0)
    pids: dict[str, int | None] = {"client": None, "server": server_pid, "fake": fake_pid}
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    samples: dict[str, list[dict[str, Any]]] = {"local": [], "sse": [], "local_gc": []}
    async with StreamChatService(settings) as service, httpx.AsyncClient(
            base_url=serve_url, timeout=300, limits=limits) as client, aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(300)) as aio:
        url = f"{serve_url}/v1/chat/stream"
        sides = {"local": lambda i, k, sid: _local_one(service, i, k, sid),
                 "local_gc": lambda i, k, sid: _local_one(service, i, k, sid),
                 "sse": (lambda i, k, sid: _sse_one(client, i, k, sid)) if client_kind == "httpx"
                 else (lambda i, k, sid: _aiohttp_one(aio, url, i, k, sid))}
        for name in ("local", "sse"):  # warm up: imports, the pool's connections, both stores
            await _wave(sides[name], min(clients, 100), n, pids)
        rss_warm = peak_rss_mb(server_pid)
        for round_ in range(rounds):
            order = ("local", "sse", "local_gc") if round_ % 2 == 0 else (
                "local_gc", "sse", "local")
            for name in order:
                result = await _wave(sides[name], clients, n, pids, tuned=name == "local_gc")
                samples[name].append(result)
                print(f"  scale round {round_ + 1}: {name} {result['wall']:.2f} s, "
                      f"failed {result['failed']}", flush=True)
    return {"samples": samples, "rss_warm": rss_warm, "rss_peak": peak_rss_mb(server_pid),
            "clients": clients, "n": n, "rounds": rounds, "client": client_kind}


def table(m: dict[str, Any]) -> tuple[str, float, bool]:
    """(the table, the ratio of median walls, whether every reply was right)."""
    local, sse, tuned = m["samples"]["local"], m["samples"]["sse"], m["samples"]["local_gc"]
    wall = {k: statistics.median(r["wall"] for r in v) for k, v in m["samples"].items()}
    ratio = wall["sse"] / wall["local"]
    failed = sum(r["failed"] for r in local + sse + tuned)
    like = wall["sse"] / wall["local_gc"]
    ok = failed == 0

    def cpu(side: list[dict[str, Any]], proc: str) -> float:
        return statistics.median(r["cpu"][proc] for r in side)

    if not ok:
        verdict = f"FAILED: {failed} wrong or failed replies"
    elif ratio <= TARGET:
        verdict = "met"
    else:
        verdict = f"missed by {ratio - TARGET:.2f}x ({ratio / TARGET:.2f} times the target)"
    rounds = ", ".join(f"{s['wall'] / lo['wall']:.2f}x" for lo, s in zip(local, sse, strict=True))
    lines = [
        "| measure | in-process stream_chat | SSE (/v1/chat/stream) | SSE / in-process |",
        "|---|---|---|---|",
        f"| wall, {m['clients']:,} at once (s, median) | {wall['local']:.2f} | {wall['sse']:.2f} "
        f"| {ratio:.2f}x (target <= {TARGET}x: {verdict}) |",
        f"| wall per round (s) | {_walls(local)} | {_walls(sse)} | {rounds} |",
        f"| wall, in-process with the server's collector settings (s, median; per round) | "
        f"{wall['local_gc']:.2f} ({_walls(tuned)}) | {wall['sse']:.2f} | {like:.2f}x "
        "(like for like) |",
        f"| of which in the bench process's garbage collector, that side (s) | "
        f"{_median(tuned, 'gc'):.2f} | - | - |",
        f"| CPU s, this process (sessions / clients) | {cpu(local, 'client'):.2f} | "
        f"{cpu(sse, 'client'):.2f} | - |",
        f"| of which in its garbage collector (s) | {_median(local, 'gc'):.2f} | "
        f"{_median(sse, 'gc'):.2f} | - |",
        f"| CPU s, `geo-agent serve` | {cpu(local, 'server'):.2f} | {cpu(sse, 'server'):.2f} "
        "| - |",
        f"| CPU s, the fake | {cpu(local, 'fake'):.2f} | {cpu(sse, 'fake'):.2f} | - |",
        f"| wrong or failed replies | {sum(r['failed'] for r in local + tuned)} | "
        f"{sum(r['failed'] for r in sse)} | - |",
        f"| `geo-agent serve` peak RSS (MB) | - | {m['rss_peak']:.0f} "
        f"(after warm-up {m['rss_warm']:.0f}) | - |",
    ]
    firsts = [r["first_failure"][0] for r in local + sse if r["first_failure"]]
    if firsts:
        lines.append(f"\nfirst failure: {firsts[0]}")
    return "\n".join(lines), ratio, ok


def _median(side: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in side)


def _walls(side: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['wall']:.2f}" for r in side)


_CLIENTS = {
    "aiohttp": "one `aiohttp.ClientSession`, no connection limit, its stream reader split into "
               "lines, orjson; `--scale-client httpx` for httpx + httpx-sse",
    "httpx": "one `httpx.AsyncClient`, pool raised to the client count, httpx-sse",
}


def section(m: dict[str, Any], table_text: str) -> str:
    return (
        f"{HEADING}\n\n"
        f"One run, {m['rounds']} rounds, the two sides alternating first; {m['clients']:,} "
        f"concurrent replies of {m['n']} one-character chunks each side (each with its own "
        "session id and message, every reply's events and exact text checked). In-process: "
        f"{m['clients']:,} `StreamChatService.stream_chat` sessions in the bench process. SSE: "
        f"{m['clients']:,} clients in the bench process ({_CLIENTS[m['client']]}) against one "
        "`geo-agent serve` (memory:// store, no rate or concurrency limit); the fake in a "
        f"process of its own on both sides; {os.cpu_count()} cores. CPU seconds are per wave "
        "(medians), read from /proc. `python -m bench.serve --no-chunks` runs only this "
        "section.\n\n"
        + table_text + "\n")


def write_section(path: Path, text: str) -> None:
    """Put ``text`` (a section beginning with ``HEADING``) into ``path``: in place of the old
    one, else at the end; the rest of the file is kept."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    start = old.find(HEADING)
    if start < 0:
        path.write_text(old.rstrip("\n") + "\n\n" + text, encoding="utf-8")
        return
    end = old.find("\n## ", start + len(HEADING))
    rest = old[end + 1:] if end >= 0 else ""
    path.write_text(old[:start] + text + ("\n" + rest if rest else ""), encoding="utf-8")


def kept_section(path: Path) -> str:
    """The scale section (and what follows it) of ``path``, to keep when the rest is remade."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    start = old.find(HEADING)
    return "" if start < 0 else old[start:]
