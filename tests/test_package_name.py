"""The installed code lives under ``bailian_geo_agent``: an app's own ``tools.py``, ``agent/`` or
``prompts.py`` cannot shadow it, and the short names stay aliases of the very same modules."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.dashscope import Reply, ToolCall
from tests.helpers import clean_env, dashscope_env
from tests.test_readme import BLOCKS

ROOT = Path(__file__).parents[1]

REPLY_WITH_TOOLS = """
import asyncio
from bailian_geo_agent.agent import StreamChatService

async def main():
    events = [e async for e in StreamChatService(events=["tool_start", "tool_end"]).stream_chat(
        "把地图移到天安门")]
    types = [e["type"] for e in events]
    print([t for i, t in enumerate(types) if i == 0 or types[i - 1] != t])
    print("".join(e.get("chunk", "") for e in events))

asyncio.run(main())
"""


def _app_folder(tmp_path: Path) -> Path:
    """A LangChain app's folder with its own ``tools.py``, ``agent/`` and ``prompts.py``."""
    (tmp_path / "tools.py").write_text("def my_tool():\n    return 'mine'\n", encoding="utf-8")
    (tmp_path / "agent").mkdir()
    (tmp_path / "agent" / "__init__.py").write_text("MY_AGENT = True\n", encoding="utf-8")
    (tmp_path / "prompts.py").write_text("SYSTEM = 'mine'\n", encoding="utf-8")
    return tmp_path


def _run(code: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = cwd / "app.py"
    script.write_text(code, encoding="utf-8")
    return subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def _env(fake_dashscope) -> dict[str, str]:
    env = clean_env(**dashscope_env(fake_dashscope), DASHSCOPE_MAX_RETRIES="0",
                    GEO_PROVIDER="open", SESSION_STORE_URL="memory://")
    env.pop("PYTHONPATH", None)  # the installed package, not the working tree
    return env


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_blocks_run_inside_an_app_with_its_own_tools_agent_and_prompts(
        fake_dashscope, tmp_path, index):
    result = _run(BLOCKS[index], _app_folder(tmp_path), _env(fake_dashscope))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    chunks = "".join(re.findall(r"'chunk': '([^']*)'", result.stdout)) or result.stdout
    assert "ECHO[1]: " in chunks


def test_a_reply_with_a_tool_call_runs_inside_such_an_app(fake_dashscope, tmp_path):
    fake_dashscope.script(
        Reply(tool_calls=[ToolCall("map_set_view", {"lng": 116.397, "lat": 39.909, "zoom": 15})]),
        Reply(text="地图已移到天安门。"))
    result = _run(REPLY_WITH_TOOLS, _app_folder(tmp_path), _env(fake_dashscope))
    assert result.returncode == 0, result.stderr
    types, text = result.stdout.splitlines()[-2:]
    assert types == str(["stream_start", "tool_start", "tool_end", "stream_chunk", "stream_end"])
    assert text == "地图已移到天安门。"
    tool_messages = [m for m in fake_dashscope.requests[1].messages if m["role"] == "tool"]
    assert len(tool_messages) == 1 and "缩放级别15" in tool_messages[0]["content"]


def test_the_app_still_gets_its_own_modules(tmp_path):
    code = ("import bailian_geo_agent.agent, tools, agent, prompts\n"
            "print(tools.my_tool(), agent.MY_AGENT, prompts.SYSTEM)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = _run(code, _app_folder(tmp_path), env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["mine", "True", "mine"]


def test_the_short_names_are_the_same_modules_where_nothing_shadows_them(tmp_path):
    code = """
import agent, agent.events, tools, tools.map_ops, prompts
import bailian_geo_agent.agent as a, bailian_geo_agent.agent.events as e
import bailian_geo_agent.tools.map_ops as m, bailian_geo_agent.prompts as p
from agent import StreamChatService
from tools import GeoToolkit
from bailian_geo_agent.tools import GeoToolkit as CanonicalToolkit
print(agent is a, agent.events is e, tools.map_ops is m, prompts is p,
      StreamChatService.__module__, GeoToolkit is CanonicalToolkit)
"""
    result = _run(code, tmp_path, {**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"] * 4 + ["bailian_geo_agent.agent.service", "True"]


@pytest.mark.parametrize("module", ["agent.cli", "bailian_geo_agent.agent.cli"])
def test_python_dash_m_works_under_both_names(module, tmp_path):
    result = subprocess.run([sys.executable, "-m", module, "--version"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("geo-agent ")


def test_no_module_of_ours_imports_a_short_name():
    """Every internal import goes through ``bailian_geo_agent`` (functions' imports included)."""
    short = {"agent", "tools", "prompts"}
    offenders = []
    for folder in short:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom)
                         and node.level == 0 else [])
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                              if n.split(".")[0] in short]
    assert offenders == []
