"""Settings from the environment and .env; invalid values named by their variable."""

from __future__ import annotations

import pytest
from bailian_geo_agent.agent.config import DEFAULT_BASE_URL, DEFAULT_MODEL, Settings
from bailian_geo_agent.agent.errors import ConfigurationError


def test_defaults_when_only_the_key_is_set(monkeypatch):
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test")
    settings = Settings.from_env()
    assert settings.model == DEFAULT_MODEL == "qwen-plus"
    assert settings.base_url == DEFAULT_BASE_URL
    assert settings.provider == "openai"
    assert settings.timeout > 0 and settings.max_retries >= 0
    assert settings.require_api_key() == "sk-test"
    assert "sk-test" not in repr(settings)


def test_dotenv_fills_in_but_environment_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(
        "DASHSCOPE_API_KEY=sk-from-dotenv\nDASHSCOPE_MODEL=qwen-max\nDASHSCOPE_PROVIDER=tongyi\n"
        "DASHSCOPE_TIMEOUT=12.5\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("DASHSCOPE_MODEL", "qwen-turbo")
    settings = Settings.from_env()
    assert settings.require_api_key() == "sk-from-dotenv"
    assert settings.model == "qwen-turbo"
    assert settings.provider == "tongyi"
    assert settings.timeout == 12.5


def test_missing_key_says_how_to_fix():
    with pytest.raises(ConfigurationError, match=r"阿里云百炼API Key未配置.*DASHSCOPE_API_KEY"):
        Settings.from_env().require_api_key()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DASHSCOPE_TIMEOUT", "soon"),
        ("DASHSCOPE_TIMEOUT", "-1"),
        ("DASHSCOPE_PROVIDER", "azure"),
        ("DASHSCOPE_BASE_URL", "dashscope.aliyuncs.com"),
        ("DASHSCOPE_MAX_RETRIES", "many"),
    ],
)
def test_invalid_values_name_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=variable):
        Settings.from_env()


async def test_invalid_setting_is_an_error_event_not_a_crash(monkeypatch):
    from bailian_geo_agent.agent import StreamChatService

    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test")
    monkeypatch.setenv("DASHSCOPE_TIMEOUT", "soon")
    events = [e async for e in StreamChatService(tools=[]).stream_chat("你好")]
    assert [e["type"] for e in events] == ["error"]
    assert "DASHSCOPE_TIMEOUT" in events[0]["error"]


def test_host_follows_the_provider():
    settings = Settings(
        api_key="k", base_url="https://a.test:1/v1", native_base_url="https://b.test/api/v1"
    )
    assert settings.host == "a.test:1"
    assert settings.model_copy(update={"provider": "tongyi"}).host == "b.test"


def test_readme_and_help_list_every_setting():
    """The README's configuration tables name every settings field's variable."""
    from pathlib import Path

    from bailian_geo_agent.agent.config import variables

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    missing = [name for name, _, _ in variables() if f"`{name}`" not in readme]
    assert missing == []
    assert len(variables()) >= 30  # the service's, the geo tools' and the server's


def test_provider_choices_come_from_the_registry(monkeypatch):
    from bailian_geo_agent.agent.cli import build_parser
    from bailian_geo_agent.agent.providers import PROVIDERS

    (provider,) = [a for a in build_parser()._actions if "--provider" in a.option_strings]
    assert tuple(provider.choices) == tuple(PROVIDERS)
    monkeypatch.setenv("DASHSCOPE_PROVIDER", "Tongyi")
    assert Settings.from_env().provider == "tongyi"
    assert Settings.from_env().base_url_variable == "DASHSCOPE_HTTP_BASE_URL"


def test_env_example_lists_every_variable():
    """.env.example is generated from the settings (python -m agent.config > .env.example)."""
    from pathlib import Path

    from bailian_geo_agent.agent.config import env_example, variables

    committed = (Path(__file__).parents[1] / ".env.example").read_text(encoding="utf-8")
    assert committed == env_example()
    assert all(f"{name}=" in committed for name, _, _ in variables())


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"GEO_PROVIDER": "amap"}, ["GEO_PROVIDER", "AMAP_API_KEY"]),
        ({"GEO_HTTP_TIMEOUT": "soon"}, ["GEO_HTTP_TIMEOUT"]),
        ({"DASHSCOPE_TIMEOUT": "-1"}, ["DASHSCOPE_TIMEOUT"]),
    ],
)
async def test_configuration_errors_are_one_readable_sentence(monkeypatch, env, names):
    from bailian_geo_agent.agent import StreamChatService

    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    events = [e async for e in StreamChatService().stream_chat("你好")]
    assert [e["type"] for e in events] == ["error"]
    error = events[0]["error"]
    assert all(name in error for name in names), error
    assert "\n" not in error and "pydantic" not in error and "input_value" not in error
