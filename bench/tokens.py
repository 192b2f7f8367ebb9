"""Tokens per reply (issue 24 item 6): ``python -m bench.tokens`` (from the repository root).

A two-turn conversation with one tool round trip per turn (``get_weather`` on the loopback AMap
fake, then the answer), on each provider of ``PROVIDERS`` and each cache mode, with the default
geo tools, for this checkout and a baseline commit (``--baseline``, default ``c6af370``: the
commit before issue 22's tool budget and issue 24's cache settings), each side in its own
process (``bench/tokens_worker.py``, the code chosen by ``bench.sides.env``).

The fake DashScope runs here, with ``CacheAccounting``: input "tokens" are characters of a
request's tools and messages as JSON (no tokenizer), cached tokens what Model Studio's implicit
or explicit cache would report for them. Each case has its own API key, so its cache starts
empty. "Sent" is what the fake received; "reported" what the service's ``usage`` events said.
Billed equivalents use the documented rates: implicit hits at 20%; explicit creation at 125%,
hits at 10%. Writes ``bench/TOKENS_RESULTS.md`` unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import sides as sides_
from tests.fakes.amap import FakeAmap
from tests.fakes.dashscope import (
    CacheAccounting,
    FakeDashScope,
    RecordedRequest,
    Reply,
    ToolCall,
    _text_of,
    request_text,
)

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "tokens_worker.py"
PY = sys.executable
DEFAULT_BASELINE = "c6af370"
PROVIDERS = ["openai", "tongyi", "responses"]
"""Each provider a row; one missing from a side's registry is skipped with a note."""
MODES = ["implicit", "explicit", "off"]
PROFILES = {
    "API (usage only)": ["usage"],
    "page (map, tools, links)": ["usage", "map_action", "tool_start", "tool_end", "links"],
}
QUESTIONS = ["北京今天天气怎么样？", "那上海呢？"]
PLACES = ["北京", "上海"]
ANSWER = "{place}今天晴，气温二十度左右，东南风二级，适合出行；早晚稍凉，记得带件外套。"
DEAD = "http://127.0.0.1:9"  # every open service: nothing leaves the machine
RATES = {"implicit": (0.2, 1.0), "explicit": (0.1, 1.25)}  # (hit, creation) billing factors


def responder(request: RecordedRequest) -> Reply:
    """A ``get_weather`` call for a new user message, then an answer after its result; the
    call ids are fixed, so both sides send the same bytes for the same conversation."""
    users = [m for m in request.messages if m.get("role") == "user"]
    turn = max(0, len(users) - 1)
    place = next((p for p in PLACES if p in _text_of(users[-1].get("content"))), PLACES[0]) \
        if users else PLACES[0]
    if request.messages and request.messages[-1].get("role") in ("tool", "function"):
        return Reply(text=ANSWER.format(place=place), chunk_size=8)
    return Reply(tool_calls=[ToolCall("get_weather", {"place": place}, id=f"call_turn{turn}")])


def wire_chars(request: RecordedRequest) -> int:
    """Characters of what ``request`` carried itself: its tools and messages, or for the
    Responses API (history kept by the server) its tools, ``instructions`` and new ``input``
    only; ``request_text`` is then the whole context the model reads (and bills)."""
    if request.protocol != "responses":
        return len(request_text(request))
    body = request.body
    return sum(len(json.dumps(body.get(k) or [], ensure_ascii=False, separators=(",", ":")))
               for k in ("tools", "instructions", "input"))


def worker_env(root: Path, amap: FakeAmap) -> dict[str, str]:
    """The side's environment: its code, the AMap fake, dead URLs for every open service."""
    env = {k: v for k, v in sides_.env(root).items()
           if not k.startswith(("DASHSCOPE_", "AMAP_", "GEO_", "SESSION_"))}
    env.update({"AMAP_API_KEY": "test-amap-key", "AMAP_BASE_URL": amap.base_url,
                "GEO_PROVIDER": "amap"})
    for name in ("OPEN_METEO_BASE_URL", "OPEN_METEO_GEOCODING_URL", "PHOTON_BASE_URL",
                 "NOMINATIM_BASE_URL", "OVERPASS_BASE_URL", "OSRM_BASE_URL",
                 "OSRM_WALKING_BASE_URL", "OSRM_CYCLING_BASE_URL", "VALHALLA_BASE_URL"):
        env[name] = DEAD
    return env


def cases(side: str) -> list[dict[str, Any]]:
    out = []
    for provider in PROVIDERS:
        for mode in [*MODES, None]:
            for profile, events in PROFILES.items():
                key = f"sk-bench-{side}-{provider}-{mode or 'none'}-{len(events)}"
                out.append({"key": key, "provider": provider, "mode": mode,
                            "profile": profile, "events": events})
    return out


def run_side(side: str, root: Path, fake: FakeDashScope, amap: FakeAmap,
             only: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One side's worker on ``only`` (default: every case), its result by case key."""
    spec = {"base": fake.compatible_base_url, "native": fake.native_base_url,
            "responses": getattr(fake, "responses_base_url", fake.compatible_base_url),
            "questions": QUESTIONS, "cases": cases(side) if only is None else only}
    proc = subprocess.run([PY, str(WORKER), json.dumps(spec)], cwd=root,
                          env=worker_env(root, amap), capture_output=True, text=True,
                          timeout=600)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[7:])
            return result
    raise RuntimeError(f"{side}: exit {proc.returncode}: {proc.stderr.strip()[-800:]}")


def summarise(case: dict[str, Any], got: dict[str, Any], sent: list[RecordedRequest],
              fake_cached: list[int]) -> dict[str, Any]:
    """One table row's figures."""
    row: dict[str, Any] = {**case, **{k: got[k] for k in ("skipped", "failed") if k in got}}
    if "turns" not in got:
        return row
    chars = [len(request_text(r)) for r in sent]
    turns = got["turns"]
    calls = [t["model_calls"] for t in turns]
    row.update({
        "requests": len(sent), "calls": calls,
        "sent": [sum(chars[:calls[0]]), sum(chars[calls[0]:])],
        "wire": sum(wire_chars(r) for r in sent),
        "tools_chars": len(json.dumps(sent[0].tools, ensure_ascii=False,
                                      separators=(",", ":"))) if sent else 0,
        "tools": len(sent[0].tools) if sent else 0,
        "reported_input": sum(t["input_tokens"] for t in turns),
        "cached": sum(t["cached_tokens"] for t in turns),
        "created": sum(t["cache_creation_tokens"] for t in turns),
        "fake_cached": sum(fake_cached),
    })
    marked = any("cache_control" in json.dumps(r.messages) for r in sent)
    hit, creation = RATES["explicit" if marked else "implicit"]
    total = sum(row["sent"])
    row["billed"] = (total - row["cached"] - row["created"] + hit * row["cached"]
                     + creation * row["created"])
    return row


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| side | provider | cache mode | events | tools (chars) | input, turn 1 + turn 2 "
        "(chars) | input in all | on the wire | cached reported | created reported | billed as "
        "(input equivalents) |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        head = f"| {r['side']} | {r['provider']} | {r['mode'] or '(no setting)'} | {r['profile']}"
        if "turns" not in r and "sent" not in r:
            note = r.get("skipped") or f"failed: {r.get('failed')}"
            lines.append(f"{head} | {note} | | | | | | |")
            continue
        check = "" if r["reported_input"] == sum(r["sent"]) else " (usage said " \
            f"{r['reported_input']:,})"
        fake = "" if r["fake_cached"] == r["cached"] else f" (fake sent {r['fake_cached']:,})"
        lines.append(
            f"{head} | {r['tools']} ({r['tools_chars']:,}) | {r['sent'][0]:,} + {r['sent'][1]:,}"
            f" | {sum(r['sent']):,}{check} | {r['wire']:,} | {r['cached']:,}{fake} | "
            f"{r['created']:,} | "
            f"{r['billed']:,.0f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="commit to compare with")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    fake, amap = FakeDashScope(), FakeAmap(api_key="test-amap-key")
    fake.responder = responder
    fake.cache_accounting = CacheAccounting()
    work = Path(tempfile.mkdtemp(prefix="bench-tokens-"))
    before = sides_.add_baseline(args.baseline, work)
    rows: list[dict[str, Any]] = []
    packages = {}
    try:
        fake.start()
        amap.start()
        for side, root in (("before", before), ("after", ROOT)):
            fake.requests.clear()
            result = run_side(side, root, fake, amap)
            packages[side] = result.pop("package")
            by_key: dict[str | None, list[RecordedRequest]] = {}
            for request in fake.requests:
                by_key.setdefault(request.api_key, []).append(request)
            noted: set[str] = set()
            for case in cases(side):
                got = result.get(case["key"], {"failed": "no result"})
                skipped = str(got.get("skipped", ""))
                if skipped.startswith(("no DASHSCOPE_CONTEXT_CACHE", "has DASHSCOPE_")):
                    continue  # the side measures either the modes or its one behaviour
                if skipped:
                    if case["provider"] in noted:
                        continue
                    noted.add(case["provider"])
                    case = {**case, "mode": "-", "profile": "-"}
                sent = by_key.get(case["key"], [])
                row = summarise(case, got, sent, _fake_cached(sent))
                row["side"] = f"before ({args.baseline})" if side == "before" else side
                rows.append(row)
    finally:
        fake.stop()
        amap.stop()
        sides_.remove_baseline(before)
        shutil.rmtree(work, ignore_errors=True)  # the baseline's import shim too
    lines = report(rows, args.baseline, packages)
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        (ROOT / "bench" / "TOKENS_RESULTS.md").write_text(text, encoding="utf-8")


def _fake_cached(sent: list[RecordedRequest]) -> list[int]:
    """The cached tokens the fake's accounting gives ``sent`` replayed in order (what it sent
    in the replies: the accounting is deterministic)."""
    cache = CacheAccounting()
    return [cache.account(request)[1] for request in sent]


def report(rows: list[dict[str, Any]], baseline: str, packages: dict[str, str]) -> list[str]:
    from bench.run import machine

    return [
        "# Tokens per reply: a two-turn conversation with one tool round trip per turn",
        "",
        f"Machine: {machine()}. `python -m bench.tokens` (baseline `{baseline}`); code run: "
        + ", ".join(f"{side} from `{Path(p).name}`" for side, p in packages.items()) + ".",
        "",
        "Turn 1 asks for Beijing's weather, turn 2 for Shanghai's; each turn is a `get_weather`"
        " call (AMap fake), its result, and a short answer: 2 model calls a turn, 4 in all. "
        "Input is counted without a tokenizer: characters of each request's tools and messages"
        " as JSON (the fake's prompt tokens; for the Responses API the whole context the server"
        " holds, while \"on the wire\" counts only what the request carried). Cached and"
        " created are what the service's `usage`"
        " events reported, the fake's cache accounting (`tests.fakes.dashscope.CacheAccounting`:"
        " implicit = longest common prefix with an earlier request of the key from 256; explicit"
        " = the marked prefixes from 1,024) deciding them. Billed: uncached input at 100%,"
        " implicit hits at 20%, explicit hits at 10% and creation at 125%. `off` sends what"
        " `implicit` sends: DashScope's implicit cache cannot be turned off by a request, so its"
        " billed figure assumes it hits all the same.",
        "",
        *table(rows),
    ]


if __name__ == "__main__":
    main()
