"""Every Python block of the README runs as written, against the loopback fake, with an empty
stderr (no warning at exit, no traceback), on both providers; and with a rejected key it ends on
its error event without raising afterwards."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.dashscope import FakeDashScope
from tests.helpers import clean_env, dashscope_env

ROOT = Path(__file__).parents[1]
BLOCKS = re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text("utf-8"), re.M | re.S)


def _run(code: str, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )


def _env(fake: FakeDashScope, provider: str, key: str) -> dict[str, str]:
    env = clean_env(**dashscope_env(fake), DASHSCOPE_PROVIDER=provider,
                    DASHSCOPE_MAX_RETRIES="0", GEO_PROVIDER="open", PYTHONPATH=str(ROOT))
    env["DASHSCOPE_API_KEY"] = key  # the fake's, or a rejected one
    return env


# The README's Python blocks: the section each stands in and what it shows. Losing or adding one
# fails here, so the parametrized runs below cannot silently shrink.
EXPECTED_BLOCKS = [
    ("# bailian-geo-agent", "service.stream_chat("),
    ("## Embedding", "handler.dicts()"),
    ("## Sessions", "service.get_history(session_id)"),
]


def _blocks_by_section() -> list[tuple[str, str]]:
    """``(heading, block)`` for every fenced Python block, read line by line (not with the
    regular expression that builds ``BLOCKS``)."""
    found, heading, block = [], "", None
    for line in (ROOT / "README.md").read_text("utf-8").splitlines(keepends=True):
        if block is not None:
            if line.startswith("```"):
                found.append((heading, "".join(block)))
                block = None
            else:
                block.append(line)
        elif line.startswith("```python"):
            block = []
        elif line.startswith("#"):
            heading = line.strip()
    return found


def test_the_readme_has_exactly_its_python_blocks():
    sections = _blocks_by_section()
    assert [heading for heading, _ in sections] == [heading for heading, _ in EXPECTED_BLOCKS]
    for (_, block), (_, shows) in zip(sections, EXPECTED_BLOCKS, strict=True):
        assert shows in block
    assert [block for _, block in sections] == BLOCKS


@pytest.mark.parametrize("provider", ["openai", "tongyi"])
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs_clean(fake_dashscope, tmp_path, provider, index):
    result = _run(BLOCKS[index], tmp_path, _env(fake_dashscope, provider, "sk-test"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    # Printed as text (the headline snippet) or as event dicts: the echoed question either way.
    chunks = "".join(re.findall(r"'chunk': '([^']*)'", result.stdout)) or result.stdout
    assert "ECHO[1]: " in chunks


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_with_a_rejected_key_ends_on_its_error(fake_dashscope, tmp_path, index):
    fake_dashscope.valid_keys = {"sk-test"}  # reset for the next test by the fixture
    result = _run(BLOCKS[index], tmp_path, _env(fake_dashscope, "openai", "sk-bad"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "API Key无效" in result.stdout


def _readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text("utf-8")
    return re.search(r"<!-- test-command -->\n```bash\n(.*?)\n```", readme, re.S).group(1)


def test_the_test_command_is_ci_s_and_installs_the_browser_tests_extra():
    command = _readme_test_command()
    ci = re.search(r"^test_command='(.*)'$", (ROOT / ".ci/run").read_text("utf-8"), re.M)
    assert ci is not None and ci.group(1) == command
    extras = re.search(r'-e "\.\[([a-z,]+)\]"', command).group(1).split(",")
    assert extras == ["test", "browser"]  # playwright for tests/web, as CI has it
    assert "-c constraints.txt" in command


def test_every_pip_install_in_the_notebooks_readme_uses_the_constraints():
    lines = [line for line in (ROOT / "notebooks/README.md").read_text("utf-8").splitlines()
             if "pip install" in line]
    assert lines and all("pip install -c constraints.txt " in line for line in lines), lines


def test_the_js_client_names_test_files_that_exist():
    import json

    description = json.loads((ROOT / "tests/js/package.json").read_text("utf-8"))["description"]
    named = re.findall(r"tests/[\w/]+\.(?:py|mjs)", description)
    assert named and [path for path in named if not (ROOT / path).is_file()] == []
