"""examples/stream_chat_example.py run as a user would, against the loopback fake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fakes.dashscope import Reply
from tests.fakes.pytest_plugin import FAKE_API_KEY

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "stream_chat_example.py"


def run_example(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DASHSCOPE_")}
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_example_streams_an_answer_and_exits_zero(fake_dashscope):
    fake_dashscope.script(Reply(text="北京今天晴。"))
    result = run_example(
        "北京今天天气怎么样？",
        env={
            "DASHSCOPE_API_KEY": FAKE_API_KEY,
            "DASHSCOPE_BASE_URL": fake_dashscope.compatible_base_url,
        },
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("[开始]")
    assert lines[1] == "北京今天晴。"
    assert lines[2] == "[结束]"
    assert fake_dashscope.requests[0].messages[-1]["content"] == "北京今天天气怎么样？"
    assert "Unclosed" not in result.stderr, "connections must be released before exit"


def test_example_without_key_prints_the_fix_and_fails(fake_dashscope, tmp_path):
    result = run_example("你好", env={})
    assert result.returncode == 1
    assert "阿里云百炼API Key未配置" in result.stderr and "DASHSCOPE_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    assert fake_dashscope.requests == []


def test_example_with_an_empty_question_says_so(fake_dashscope):
    result = run_example("", env={"DASHSCOPE_API_KEY": FAKE_API_KEY,
                                  "DASHSCOPE_BASE_URL": fake_dashscope.compatible_base_url})
    assert result.returncode == 1
    assert "消息不能为空" in result.stderr
    assert fake_dashscope.requests == []
