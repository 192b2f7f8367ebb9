"""The message catalogue: complete in every language, same placeholders, language selection."""

from __future__ import annotations

import re
import string

import pytest
from bailian_geo_agent.prompts import catalogue as messages
from bailian_geo_agent.prompts.catalogue import CATALOGUE, LANGUAGES, text, use_language


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(CATALOGUE))
def test_every_message_in_every_language_with_the_same_placeholders(key: str) -> None:
    entry = CATALOGUE[key]
    assert set(entry) == set(LANGUAGES)
    assert _fields(entry["zh"]) == _fields(entry["en"])


def test_language_follows_context_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEO_AGENT_LANGUAGE", raising=False)
    assert text("cancelled") == "回复已被取消。"
    monkeypatch.setenv("GEO_AGENT_LANGUAGE", "en_US.UTF-8")
    assert text("cancelled") == "The reply was cancelled."
    with use_language("zh"):
        assert text("cancelled") == "回复已被取消。"
    assert messages.language() == "en"


def test_no_user_facing_chinese_outside_the_catalogue() -> None:
    """Every Chinese user-facing string of agent/ lives in prompts/catalogue.py (tools/: the
    next test)."""
    from pathlib import Path

    han = re.compile(r"[\u4e00-\u9fff]")
    root = Path(__file__).parents[1] / "agent"
    offenders = []
    for path in root.rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            # usage examples in --help and OpenAPI examples are not messages
            if han.search(code) and "geo-agent ask" not in code and "examples=" not in code:
                offenders.append(f"{path.relative_to(root)}:{number}")
    assert offenders == []


def _chinese_literals(path) -> tuple[list[int], list[int]]:
    """Lines of Chinese string literals in ``path`` (documentation left out), and the lines of
    those inside an exception's constructor (``raise XError("...")``)."""
    import ast

    han = re.compile(r"[\u4e00-\u9fff]")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {  # bare string statements: docstrings of modules, classes, functions, fields
        id(node.value) for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }

    def chinese(node: ast.AST) -> bool:
        return (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and bool(han.search(node.value)) and id(node) not in docstrings)

    literals = [node.lineno for node in ast.walk(tree) if chinese(node)]
    in_errors = [
        sub.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", "")).endswith(
            ("Error", "Exception"))
        for sub in ast.walk(node) if chinese(sub)
    ]
    return literals, in_errors


RESULT_TEXT_MODULES = {
    "distance.py", "ip_location.py", "map_ops.py", "places.py", "poi.py", "poi_detail.py",
    "routes.py", "weather.py", "providers/amap.py", "providers/amap_extra.py",
    "providers/amap_fields.py",
    "providers/open_extra.py", "providers/open_meteo.py", "providers/osm.py",
}
"""Modules still writing the tools' result texts for the model in Chinese (and the providers'
Chinese data tables: AMap categories, weather codes). Their errors are in the catalogue."""


def test_no_user_facing_chinese_in_tools_outside_the_catalogue() -> None:
    """tools/: every error text (provider errors, argument errors) comes from the catalogue,
    and no module beyond ``RESULT_TEXT_MODULES`` holds a Chinese literal at all."""
    from pathlib import Path

    root = Path(__file__).parents[1] / "tools"
    with_literals, in_errors = set(), []
    for path in sorted(root.rglob("*.py")):
        literals, errors = _chinese_literals(path)
        name = path.relative_to(root).as_posix()
        if literals:
            with_literals.add(name)
        in_errors += [f"{name}:{line}" for line in errors]
    assert in_errors == []
    assert with_literals - RESULT_TEXT_MODULES == set()
    assert "providers/amap.py" in with_literals  # the scan finds literals where they are


def test_tool_errors_follow_the_language() -> None:
    from bailian_geo_agent.tools.common import format_distance, format_duration
    from bailian_geo_agent.tools.http import _raise_for_status

    def refusal() -> str:
        with pytest.raises(Exception) as caught:
            _raise_for_status(429, "Nominatim")
        return str(caught.value)

    with use_language("zh"):
        assert (refusal(), format_distance(2300), format_duration(4800)) == (
            "Nominatim请求过于频繁（HTTP 429），请稍后再试。", "2.3公里", "1小时20分钟")
    with use_language("en"):
        assert (refusal(), format_distance(2300), format_duration(4800)) == (
            "Too many requests to Nominatim (HTTP 429); try again later.", "2.3 km", "1 h 20 min")


async def test_service_errors_follow_geo_agent_language(monkeypatch: pytest.MonkeyPatch) -> None:
    from bailian_geo_agent.agent import StreamChatService

    monkeypatch.setenv("GEO_AGENT_LANGUAGE", "en")
    events = [e async for e in StreamChatService(tools=[]).stream_chat("hi")]
    assert [e["type"] for e in events] == ["error"]
    assert events[0]["error"].startswith("The Bailian API key is not set")
    monkeypatch.setenv("GEO_AGENT_LANGUAGE", "zh")
    events = [e async for e in StreamChatService(tools=[]).stream_chat("")]
    assert events[0]["error"].startswith("阿里云百炼API Key未配置")
