"""Before/after in one run: this checkout against a baseline commit, on the default paths.

    .venv/bin/python -m bench.compare                      # baseline: the commit before issue 20
    .venv/bin/python -m bench.compare --baseline <commit> --rounds 9

The baseline is checked out in a temporary git worktree (removed at the end). Each round runs one
fresh worker process per side, the two sides alternating which goes first, against the same
loopback fake (``bench/server.py``); each worker measures ``StreamChatService`` on its default
paths and the raw openai SDK beside it (``bench.run``'s ``chunks`` worker: every reply's text is
checked). Per chunk = (last - first) / (N - 1); fixed = time to first chunk minus the raw SDK's in
the same worker. Figures are medians over rounds; ``after / before`` is the ratio of medians.
Writes ``bench/COMPARE_RESULTS.md`` unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import sides as sides_
from bench.run import Server, machine

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
# The last commit before the renovation (issue 20): the old top-level package layout.
DEFAULT_BASELINE = "8dbb3e8"
RAW = "raw openai.AsyncOpenAI"
ROWS = [
    (RAW, "raw_openai", {}),
    ("StreamChatService", "service", {}),
    ("StreamChatService + tool", "service_tool", {}),
    ("StreamChatService (tongyi)", "service_tongyi", {}),
]


def run_side(root: Path, spec: dict) -> dict:
    """One ``bench.run`` chunks worker, importing the code of ``root``."""
    env = sides_.env(root)
    proc = subprocess.run([PY, "-m", "bench.run", "--worker", json.dumps(spec)], cwd=root,
                          env=env, capture_output=True, text=True, timeout=900)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict = json.loads(line[7:])
            return result
    raise RuntimeError(f"{root}: exit {proc.returncode}: {proc.stderr.strip()[-500:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="commit to compare with")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--chunks", type=int, default=500, help="N for the per-chunk figure")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    before_root = sides_.add_baseline(args.baseline, work)
    sides = {"before": before_root, "after": ROOT}
    samples: dict[str, dict[str, dict[str, list[float]]]] = {s: {} for s in sides}
    try:
        with Server() as server:
            spec = {"base": server.base, "native": server.native, "kind": "chunks",
                    "rows": ROWS, "ns": [args.chunks], "small": 20, "warmup": 1,
                    "repeats": 3, "fixed_repeats": 5}
            for round_ in range(args.rounds):
                order = ["before", "after"] if round_ % 2 == 0 else ["after", "before"]
                for side in order:
                    result = run_side(sides[side], spec)
                    raw = result[RAW]
                    for row, _path, _kw in ROWS:
                        got = result[row]
                        if "per_chunk" not in got:
                            raise RuntimeError(f"{side} {row}: {got}")
                        rows = samples[side].setdefault(row, {"pc": [], "fixed": []})
                        rows["pc"].append(got["per_chunk"][str(args.chunks)] * 1e6)
                        rows["fixed"].append((got["ttfc"] - raw["ttfc"]) * 1e3)
                print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    finally:
        sides_.remove_baseline(before_root)

    lines = [
        "# Before/after: this checkout against the baseline, in one run",
        "",
        f"Machine: {machine()}",
        "",
        f"Baseline `{args.baseline}`; {args.rounds} rounds, one fresh worker per side per round "
        f"(sides alternating first); N = {args.chunks} one-character chunks, fixed cost at N = 20 "
        "measured as time to first chunk minus the raw openai SDK's in the same worker. Medians "
        "over rounds; every reply's text checked.",
        "",
        "| path | per chunk before (us) | after (us) | after / before | "
        "fixed before (ms) | after (ms) | after - before (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row, _path, _kw in ROWS:
        b, a = samples["before"][row], samples["after"][row]
        pcb, pca = statistics.median(b["pc"]), statistics.median(a["pc"])
        fb, fa = statistics.median(b["fixed"]), statistics.median(a["fixed"])
        fixed = "0 | 0 | (reference)" if row == RAW else f"{fb:.2f} | {fa:.2f} | {fa - fb:+.2f}"
        lines.append(f"| {row} | {pcb:.1f} | {pca:.1f} | {pca / pcb:.2f}x | {fixed} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        (ROOT / "bench" / "COMPARE_RESULTS.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
