"""The code a benchmark side runs: this checkout, or a baseline commit in a git worktree.

The editable install maps ``bailian_geo_agent`` to this checkout whatever ``PYTHONPATH`` says
(its finder is on ``sys.meta_path``), so a baseline with the same layout would silently run this
checkout's code. A side's ``env`` therefore puts a small package folder first on the path whose
``bailian_geo_agent`` points at the side's own ``agent/``, ``tools/`` and ``prompts/``; a
baseline from before the renovation (top-level packages only) just needs its root on the path.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def add_baseline(commit: str, work: Path) -> Path:
    """Check ``commit`` out at ``work/baseline`` (a detached worktree); its root."""
    root = work / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", str(root), commit],
                   cwd=ROOT, check=True, capture_output=True)
    return root


def remove_baseline(root: Path) -> None:
    """Remove the worktree ``add_baseline`` made."""
    subprocess.run(["git", "worktree", "remove", "--force", str(root)], cwd=ROOT,
                   capture_output=True)


def env(root: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a process that must import ``root``'s code."""
    paths = [str(root)]
    if root.resolve() != ROOT and (root / "tools" / "_alias.py").exists():
        shim = root.parent / f"{root.name}-import" / "bailian_geo_agent"
        shim.mkdir(parents=True, exist_ok=True)
        (shim / "__init__.py").write_text("", encoding="utf-8")
        for name in ("agent", "tools", "prompts"):
            link = shim / name
            if not link.exists():
                link.symlink_to(root / name, target_is_directory=True)
        paths.insert(0, str(shim.parent))
    return {**(base if base is not None else os.environ), "PYTHONPATH": os.pathsep.join(paths)}
