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
    """Every Chinese user-facing string of agent/ lives in prompts/catalogue.py."""
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


async def test_service_errors_follow_geo_agent_language(monkeypatch: pytest.MonkeyPatch) -> None:
    from bailian_geo_agent.agent import StreamChatService

    monkeypatch.setenv("GEO_AGENT_LANGUAGE", "en")
    events = [e async for e in StreamChatService(tools=[]).stream_chat("hi")]
    assert [e["type"] for e in events] == ["error"]
    assert events[0]["error"].startswith("The Bailian API key is not set")
    monkeypatch.setenv("GEO_AGENT_LANGUAGE", "zh")
    events = [e async for e in StreamChatService(tools=[]).stream_chat("")]
    assert events[0]["error"].startswith("阿里云百炼API Key未配置")
