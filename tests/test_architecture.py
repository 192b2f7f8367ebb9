"""docs/architecture.md is a true map: every module and package has its line there, and the
import rules it states are the ones import-linter enforces."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
NAMED = set(re.findall(r"`([^`\s]+)`", DOC))


def _code_paths() -> list[str]:
    paths = []
    for folder in ("agent", "tools", "prompts"):
        for path in sorted((ROOT / folder).rglob("*")):
            rel = path.relative_to(ROOT).as_posix()
            if "__pycache__" in rel or "/web/" in rel:
                continue
            if path.is_dir() and (path / "__init__.py").exists():
                paths.append(rel + "/")
            elif path.suffix == ".py" and path.name not in ("__init__.py", "__main__.py"):
                paths.append(rel)
    return paths


def test_every_module_and_package_has_a_line_in_the_map():
    paths = _code_paths()
    assert len(paths) > 60
    missing = [p for p in paths if p not in NAMED]
    assert missing == [], f"add a line for each to docs/architecture.md: {missing}"


def test_the_map_names_no_module_that_is_gone():
    named = {n for n in NAMED if re.fullmatch(r"(agent|tools|prompts)/[\w/]*(\.py|/)", n)}
    gone = sorted(n for n in named if not (ROOT / n).exists())
    assert gone == []


def test_the_import_rules_in_the_map_are_the_enforced_ones():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = [c["name"] for c in config["tool"]["importlinter"]["contracts"]]
    assert len(contracts) >= 4
    assert [c for c in contracts if c not in DOC] == []


def test_the_core_rule_covers_every_core_module():
    """Everything in agent/ but the three front doors is "the core" of the import rule."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    rule = next(c for c in config["tool"]["importlinter"]["contracts"]
                if c["name"].startswith("the core never imports"))
    front_doors = {"server", "cli", "mcp"}
    children = {p.stem for p in (ROOT / "agent").iterdir()
                if (p.suffix == ".py" and p.stem != "__init__")
                or (p.is_dir() and (p / "__init__.py").exists())}
    core = {f"bailian_geo_agent.agent.{name}" for name in children - front_doors}
    assert set(rule["source_modules"]) == core
    assert set(rule["forbidden_modules"]) == {f"bailian_geo_agent.agent.{d}" for d in front_doors}
