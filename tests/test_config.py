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


CONVENTIONS = {"XDG_DATA_HOME", "NO_COLOR", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER",
               "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
               "OTEL_INSTRUMENTATION_A2A_SDK_ENABLED"}
"""Variables of wider conventions (the XDG base directories, no-color.org, the OpenTelemetry
SDK's), not settings."""


def _variables_read_by_the_code() -> dict[str, list[str]]:
    """Every environment variable named in an ``os.environ[...]``, ``os.environ.get(...)``,
    ``os.getenv(...)`` or ``"NAME" in os.environ`` of agent/, tools/ and prompts/, and where."""
    import ast
    from pathlib import Path

    root = Path(__file__).parents[1]
    found: dict[str, list[str]] = {}

    def is_environ(node: ast.AST) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
            isinstance(node, ast.Name) and node.id == "environ")

    for folder in ("agent", "tools", "prompts"):
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                name = None
                if isinstance(node, ast.Subscript) and is_environ(node.value):
                    name = node.slice
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
                        (node.func.attr in ("get", "pop", "setdefault")
                         and is_environ(node.func.value)) or node.func.attr == "getenv"):
                    name = node.args[0] if node.args else None
                elif isinstance(node, ast.Compare) and any(
                        is_environ(c) for c in node.comparators):
                    name = node.left
                if name is None:
                    continue
                assert isinstance(name, ast.Constant), f"{path}:{node.lineno}: a computed name"
                found.setdefault(name.value, []).append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_every_variable_the_code_reads_is_a_setting_in_the_readme():
    """No variable is read behind the settings' back: each one the code reads is a settings
    field (so ``variables()``, ``--help`` and ``.env.example`` list it) and in the README."""
    from pathlib import Path

    from bailian_geo_agent.agent.config import variables

    read = _variables_read_by_the_code()
    assert "NO_COLOR" in read and "GEO_AGENT_LANGUAGE" in read  # the scan sees reads
    fields = {name for name, _, _ in variables()}
    assert {n: where for n, where in read.items() if n not in fields | CONVENTIONS} == {}
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert [n for n in sorted(fields | CONVENTIONS) if f"`{n}`" not in readme] == []
    for name in ("GEO_AGENT_LOG_LEVEL", "DASHSCOPE_DISABLE_DATA_INSPECTION",
                 "OSRM_CYCLING_BASE_URL", "GEO_AGENT_API_TOKENS_FILE"):
        assert name in fields


def test_variables_of_some_settings_only():
    from bailian_geo_agent.agent.config import variables
    from bailian_geo_agent.agent.serving import ServerSettings
    from bailian_geo_agent.tools.config import GeoConfig

    served = [name for name, _, _ in variables(ServerSettings)]
    assert served[:2] == ["GEO_AGENT_API_TOKENS", "GEO_AGENT_API_TOKENS_FILE"]
    assert "GEO_AGENT_LOG_LEVEL" in served and "DASHSCOPE_API_KEY" not in served
    geo = [name for name, _, _ in variables(GeoConfig)]
    assert [name for name, _, _ in variables(GeoConfig, ServerSettings)] == geo + served


def test_variables_show_every_url_default():
    from bailian_geo_agent.agent.config import variables

    urls = {name: default for name, default, _ in variables() if name.endswith("_URL")}
    assert urls["OSRM_CYCLING_BASE_URL"] == "https://routing.openstreetmap.de/routed-bike"
    assert urls["DASHSCOPE_BASE_URL"] == "https://dashscope.aliyuncs.com/compatible-mode/v1"
    # Every URL with a default shows it (the session store and stream log have none: unset;
    # the public URL none: from the request).
    assert {n for n, d in urls.items() if not d} == {"SESSION_STORE_URL", "GEO_AGENT_STREAM_URL",
                                                     "GEO_AGENT_PUBLIC_URL"}


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


def test_data_inspection_is_a_setting_read_from_dotenv(monkeypatch, tmp_path):
    """DASHSCOPE_DISABLE_DATA_INSPECTION=false (in .env too) reaches the native request."""
    from bailian_geo_agent.agent.providers._native_http import build_request
    from bailian_geo_agent.agent.providers.dashscope_native import build_model

    monkeypatch.delenv("DASHSCOPE_DISABLE_DATA_INSPECTION", raising=False)
    monkeypatch.chdir(tmp_path)
    params = {"model": "qwen-plus", "api_key": "k",
              "messages": [{"role": "user", "content": "hi"}]}
    assert Settings(api_key="k").disable_data_inspection is True
    assert "X-DashScope-DataInspection" not in build_request(params)[1]
    (tmp_path / ".env").write_text("DASHSCOPE_DISABLE_DATA_INSPECTION=false\n", encoding="utf-8")
    model = build_model(Settings(api_key="k", provider="tongyi"))
    assert model.disable_data_inspection is False
    headers = build_request(params, data_inspection=not model.disable_data_inspection)[1]
    assert headers["X-DashScope-DataInspection"] == "enable"
