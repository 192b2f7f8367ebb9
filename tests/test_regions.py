"""``DASHSCOPE_REGION`` and ``DASHSCOPE_WORKSPACE_ID``: the base URLs of both providers, an
explicit base URL winning, every way settings are read."""

from __future__ import annotations

import pytest
from bailian_geo_agent.agent.config import (
    DEFAULT_BASE_URL,
    DEFAULT_NATIVE_BASE_URL,
    Settings,
    variables,
)
from bailian_geo_agent.agent.errors import ConfigurationError
from bailian_geo_agent.agent.providers import build_chat_model
from bailian_geo_agent.agent.providers.endpoints import REGIONS, WORKSPACE_ONLY, endpoints

PUBLIC = {
    "cn-beijing": "https://dashscope.aliyuncs.com",
    "ap-southeast-1": "https://dashscope-intl.aliyuncs.com",
    "us-east-1": "https://dashscope-us.aliyuncs.com",
}
WORKSPACE = "llm-0123abcd"


@pytest.fixture(autouse=True)
def _no_endpoint_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("DASHSCOPE_BASE_URL", "DASHSCOPE_HTTP_BASE_URL", "DASHSCOPE_REGION",
                 "DASHSCOPE_WORKSPACE_ID", "DASHSCOPE_RESPONSES_BASE_URL", "DASHSCOPE_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no ./.env of the checkout
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test")


def test_the_default_is_beijing() -> None:
    settings = Settings.from_env()
    assert settings.region == "cn-beijing" and settings.workspace_id is None
    assert (settings.base_url, settings.native_base_url) == (
        DEFAULT_BASE_URL, DEFAULT_NATIVE_BASE_URL)
    assert endpoints().compatible == DEFAULT_BASE_URL
    assert endpoints().native == DEFAULT_NATIVE_BASE_URL


@pytest.mark.parametrize("workspace", [None, WORKSPACE])
@pytest.mark.parametrize("region", REGIONS)
def test_each_region_and_workspace_sets_both_providers_urls(
    monkeypatch: pytest.MonkeyPatch, region: str, workspace: str | None
) -> None:
    monkeypatch.setenv("DASHSCOPE_REGION", region)
    if workspace:
        monkeypatch.setenv("DASHSCOPE_WORKSPACE_ID", workspace)
    if region in WORKSPACE_ONLY and not workspace:  # Frankfurt, Hong Kong: workspaces only
        with pytest.raises(ConfigurationError, match="DASHSCOPE_WORKSPACE_ID"):
            Settings.from_env()
        return
    host = f"https://{workspace}.{region}.maas.aliyuncs.com" if workspace else PUBLIC[region]
    settings = Settings.from_env()
    assert settings.base_url == f"{host}/compatible-mode/v1"
    assert settings.native_base_url == f"{host}/api/v1"
    assert endpoints(region, workspace).responses == (
        f"{host}/api/v2/apps/protocols/compatible-mode/v1")
    openai = build_chat_model(settings)
    assert openai.openai_api_base == settings.base_url  # type: ignore[attr-defined]
    tongyi = build_chat_model(settings.model_copy(update={"provider": "tongyi"}))
    assert tongyi.base_url == settings.native_base_url  # type: ignore[attr-defined]
    assert settings.endpoint == settings.base_url
    responses = build_chat_model(settings.model_copy(update={"provider": "responses"}))
    assert settings.responses_base_url == endpoints(region, workspace).responses
    assert responses.openai_api_base == settings.responses_base_url  # type: ignore[attr-defined]


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("explicit", ["DASHSCOPE_BASE_URL", "DASHSCOPE_HTTP_BASE_URL", "both"])
def test_an_explicit_base_url_still_wins(
    monkeypatch: pytest.MonkeyPatch, region: str, explicit: str
) -> None:
    monkeypatch.setenv("DASHSCOPE_REGION", region)
    monkeypatch.setenv("DASHSCOPE_WORKSPACE_ID", WORKSPACE)
    if explicit in ("DASHSCOPE_BASE_URL", "both"):
        monkeypatch.setenv("DASHSCOPE_BASE_URL", "https://gateway.example/v1")
    if explicit in ("DASHSCOPE_HTTP_BASE_URL", "both"):
        monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", "https://gateway.example/api/v1")
    settings = Settings.from_env()
    region_urls = endpoints(region, WORKSPACE)
    assert settings.base_url == ("https://gateway.example/v1"
                                 if explicit != "DASHSCOPE_HTTP_BASE_URL"
                                 else region_urls.compatible)
    assert settings.native_base_url == ("https://gateway.example/api/v1"
                                        if explicit != "DASHSCOPE_BASE_URL"
                                        else region_urls.native)


def test_a_workspace_only_region_takes_explicit_base_urls(monkeypatch) -> None:
    assert {"eu-central-1", "cn-hongkong"} == WORKSPACE_ONLY
    monkeypatch.setenv("DASHSCOPE_REGION", "eu-central-1")
    monkeypatch.setenv("DASHSCOPE_BASE_URL", "https://gateway.example/v1")
    with pytest.raises(ConfigurationError, match="DASHSCOPE_WORKSPACE_ID"):
        Settings.from_env()  # the native URL would have no endpoint
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", "https://gateway.example/api/v1")
    assert Settings.from_env().base_url == "https://gateway.example/v1"


def test_a_workspace_only_region_never_falls_back_to_beijing_for_responses(monkeypatch) -> None:
    # The two Chat Completions URLs given, the Responses one not: it would be Beijing's.
    monkeypatch.setenv("DASHSCOPE_PROVIDER", "responses")
    monkeypatch.setenv("DASHSCOPE_REGION", "eu-central-1")
    monkeypatch.setenv("DASHSCOPE_BASE_URL", "https://gateway.example/v1")
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", "https://gateway.example/api/v1")
    with pytest.raises(ConfigurationError, match="DASHSCOPE_WORKSPACE_ID"):
        Settings.from_env()
    responses = "https://gateway.example/api/v2/apps/protocols/compatible-mode/v1"
    monkeypatch.setenv("DASHSCOPE_RESPONSES_BASE_URL", responses)
    assert Settings.from_env().responses_base_url == responses


def test_code_and_dotenv_take_the_same_settings(tmp_path) -> None:
    in_code = Settings(api_key="k", region="ap-southeast-1", workspace_id=WORKSPACE)
    assert in_code.base_url == f"https://{WORKSPACE}.ap-southeast-1.maas.aliyuncs.com/compatible-mode/v1"
    given = Settings(api_key="k", region="us-east-1", base_url="https://own.example/v1")
    assert given.base_url == "https://own.example/v1"
    assert given.native_base_url == "https://dashscope-us.aliyuncs.com/api/v1"
    env_file = tmp_path / "cost.env"
    env_file.write_text("DASHSCOPE_REGION=us-east-1\nDASHSCOPE_WORKSPACE_ID=ws-9\n", "utf-8")
    from_file = Settings.from_env(env_file)
    assert from_file.native_base_url == "https://ws-9.us-east-1.maas.aliyuncs.com/api/v1"


@pytest.mark.parametrize(("variable", "value"), [
    ("DASHSCOPE_REGION", "cn-hangzhou"),
    ("DASHSCOPE_WORKSPACE_ID", "evil.example/x"),
    ("DASHSCOPE_WORKSPACE_ID", "-dash"),
])
def test_invalid_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=variable):
        Settings.from_env()


def test_help_and_readme_list_them() -> None:
    rows = {name: default for name, default, _ in variables()}
    assert rows["DASHSCOPE_REGION"] == "cn-beijing"
    assert rows["DASHSCOPE_WORKSPACE_ID"] == ""
    assert rows["DASHSCOPE_CONTEXT_CACHE"] == "implicit"
    assert rows["DASHSCOPE_ENABLE_SEARCH"] == "False"
