"""The one settings object: the service's and the geo tools' fields, read from env and ``.env``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from bailian_geo_agent.agent.errors import ConfigurationError
from bailian_geo_agent.agent.providers.endpoints import (
    DEFAULT_REGION,
    WORKSPACE_ONLY,
    Region,
    check_workspace_id,
    endpoints,
)
from bailian_geo_agent.agent.providers.registry import DEFAULT_PROVIDER, PROVIDERS, provider_spec
from bailian_geo_agent.agent.serving import ServerSettings
from bailian_geo_agent.prompts.catalogue import Language, parse_language, text
from bailian_geo_agent.tools.config import (
    ENV_SETTINGS,
    GeoConfig,
    describe_validation_error,
    drop_blank,
    env_file_path,
)
from bailian_geo_agent.tools.security import http_url, refuse_plain_http
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode

DEFAULT_MODEL = "qwen-plus"
DEFAULT_BASE_URL = "https://dashscope.aliyuncs.com/compatible-mode/v1"
DEFAULT_NATIVE_BASE_URL = "https://dashscope.aliyuncs.com/api/v1"
DEFAULT_RESPONSES_BASE_URL = (
    "https://dashscope.aliyuncs.com/api/v2/apps/protocols/compatible-mode/v1"
)


class Settings(BaseSettings):
    """Everything the chat service needs; each field's environment variable is its alias.

    ``Settings()`` reads the environment and ``./.env`` (the environment wins);
    ``Settings.from_env(path)`` reads another env file and reports invalid values as one
    ``ConfigurationError``. Geo tool settings are in ``geo`` (a ``tools.config.GeoConfig``).
    """

    model_config = ENV_SETTINGS

    api_key: SecretStr | None = Field(None, validation_alias="DASHSCOPE_API_KEY")
    """Bailian / DashScope API key (required)."""
    model: str = Field(DEFAULT_MODEL, validation_alias="DASHSCOPE_MODEL")
    """The Qwen model to call (``qwen-max``, ``qwen-turbo``, ``qwen3-max``, ...)."""
    provider: str = Field(DEFAULT_PROVIDER, validation_alias="DASHSCOPE_PROVIDER")
    """Model provider: ``openai`` (ChatOpenAI, compatible mode), ``tongyi`` (native API) or
    ``responses`` (ChatOpenAI on the Responses API, history kept server-side)."""
    base_url: str = Field(DEFAULT_BASE_URL, validation_alias="DASHSCOPE_BASE_URL")
    """OpenAI-compatible endpoint (DashScope compatible mode, vLLM, Ollama, ...)."""
    native_base_url: str = Field(
        DEFAULT_NATIVE_BASE_URL, validation_alias="DASHSCOPE_HTTP_BASE_URL"
    )
    """Native DashScope API base, used by the ``tongyi`` provider."""
    timeout: float = Field(60.0, gt=0, validation_alias="DASHSCOPE_TIMEOUT")
    """Seconds without data before a model request is abandoned."""
    max_retries: int = Field(2, ge=0, le=10, validation_alias="DASHSCOPE_MAX_RETRIES")
    """Retries of 429 / 5xx / connection failures, only while nothing of the reply was sent."""
    retry_base_delay: float = Field(0.5, ge=0, le=60, validation_alias="DASHSCOPE_RETRY_BASE_DELAY")
    """Seconds before the first retry; each further retry waits about twice as long (max 8 s)."""
    enable_thinking: bool | None = Field(None, validation_alias="DASHSCOPE_ENABLE_THINKING")
    """Qwen thinking mode: ``true``/``false``; unset leaves it to the model's default."""
    thinking_budget: int | None = Field(None, gt=0, validation_alias="DASHSCOPE_THINKING_BUDGET")
    """Most tokens a reply may spend thinking (``thinking_budget``); unset: the model's limit."""
    preserve_thinking: bool = Field(False, validation_alias="DASHSCOPE_PRESERVE_THINKING")
    """Send earlier replies' reasoning back to the model (it is always kept in the history)."""
    max_message_chars: int = Field(8000, gt=0, validation_alias="GEO_AGENT_MAX_MESSAGE_CHARS")
    """Longest user message accepted."""
    language: Language = Field("zh", validation_alias="GEO_AGENT_LANGUAGE")
    """Language of error and status messages: ``zh`` (default) or ``en``."""
    session_store_url: str | None = Field(None, validation_alias="SESSION_STORE_URL")
    """Where sessions live: ``sqlite:///path``, ``memory://`` or ``postgresql://...``.

    Unset: ``sqlite:///`` in ``$XDG_DATA_HOME/bailian-geo-agent/sessions.sqlite``."""
    history_max_turns: int = Field(20, gt=0, validation_alias="GEO_AGENT_HISTORY_MAX_TURNS")
    """Most recent user turns sent to the model."""
    history_max_tokens: int = Field(16000, gt=0, validation_alias="GEO_AGENT_HISTORY_MAX_TOKENS")
    """Approximate token budget of the history sent (the current turn is always sent whole)."""
    session_idle_ttl: float = Field(30 * 24 * 3600.0, ge=0, validation_alias="SESSION_IDLE_TTL")
    """Seconds after which an idle session is deleted (0: never)."""
    session_lock_timeout: float = Field(60.0, gt=0, validation_alias="SESSION_LOCK_TIMEOUT")
    """Seconds a message waits for the same session's previous reply before "session busy"."""
    reply_timeout: float = Field(300.0, ge=0, validation_alias="GEO_AGENT_REPLY_TIMEOUT")
    """Seconds one reply may take, tool calls included, before it ends with an error (0: none)."""
    model_call_timeout: float = Field(
        120.0, ge=0, validation_alias="GEO_AGENT_MODEL_CALL_TIMEOUT"
    )
    """Seconds one model call may stream, however steadily data arrives (0: no limit)."""
    max_answer_chars: int = Field(20000, ge=0, validation_alias="GEO_AGENT_MAX_ANSWER_CHARS")
    """Longest answer text of one reply; beyond it the reply ends with an error (0: no limit)."""
    max_sse_line_bytes: int = Field(
        1024 * 1024, ge=1024, validation_alias="GEO_AGENT_MAX_SSE_LINE_BYTES"
    )
    """Longest line or event accepted in the model's stream (both protocols)."""
    max_tool_rounds: int = Field(8, ge=1, le=100, validation_alias="GEO_AGENT_MAX_TOOL_ROUNDS")
    """Most rounds of tool calls in one reply before it stops with an explanation."""
    allow_insecure_http: bool = Field(False, validation_alias="GEO_AGENT_ALLOW_INSECURE_HTTP")
    """Allow plain ``http://`` model and AMap URLs beyond loopback and private networks."""
    disable_data_inspection: bool = Field(
        True, validation_alias="DASHSCOPE_DISABLE_DATA_INSPECTION"
    )
    """``false``: DashScope's native API (``tongyi``) inspects the data (DataInspection header)."""
    trace_content: bool = Field(False, validation_alias="GEO_AGENT_TRACE_CONTENT")
    """Trace spans carry message text and tool arguments and results (may be personal data)."""
    geo: GeoConfig | None = Field(None, exclude=True)
    """The geo tools' settings (``GEO_*``, ``AMAP_*``, the open services' URLs); ``from_env``
    reads them from the same env file, ``geo_config()`` from the environment when unset."""
    # -- cost
    context_cache: Literal["implicit", "explicit", "off"] = Field(
        "implicit", validation_alias="DASHSCOPE_CONTEXT_CACHE"
    )
    """Context cache: ``implicit`` (stable request prefix), ``explicit`` (cache markers), ``off``.

    ``explicit`` marks the system prompt and the history boundary with ``cache_control``
    (creation billed at 125%, hits at 10%, 5-minute TTL, prompts from 1,024 tokens)."""
    enable_search: bool = Field(False, validation_alias="DASHSCOPE_ENABLE_SEARCH")
    """Let the model search the web (``enable_search``, billed per search); sources as events."""
    region: Region = Field(DEFAULT_REGION, validation_alias="DASHSCOPE_REGION")
    """Model Studio region: ``cn-beijing``, ``ap-southeast-1``, ``us-east-1``, ``eu-central-1``
    or ``cn-hongkong``.

    Sets every provider's base URL unless ``DASHSCOPE_BASE_URL`` / ``_HTTP_BASE_URL`` /
    ``_RESPONSES_BASE_URL`` is set;
    Frankfurt (``eu-central-1``) and Hong Kong (``cn-hongkong``) need a workspace id."""
    workspace_id: str | None = Field(None, validation_alias="DASHSCOPE_WORKSPACE_ID")
    """Model Studio workspace id: its own endpoint ``{id}.{region}.maas.aliyuncs.com``."""
    # -- responses
    responses_base_url: str = Field(
        DEFAULT_RESPONSES_BASE_URL, validation_alias="DASHSCOPE_RESPONSES_BASE_URL"
    )
    """Responses API base, used by the ``responses`` provider."""
    session_cache: bool = Field(True, validation_alias="DASHSCOPE_SESSION_CACHE")
    """``responses`` provider: DashScope's session cache (``x-dashscope-session-cache``).

    Creation billed at 125%, hits at 10% (implicit: hits at 20%, not guaranteed); a reply
    re-reads the same prefix on every model call, so it pays from the second call."""
    # -- approval
    approval_tools: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias="GEO_AGENT_APPROVAL_TOOLS"
    )
    """Tools that run only once the user approves the call, comma-separated (e.g. ``ip_location``).

    The reply pauses with an ``approval_request`` event; the next request answers it."""

    @field_validator("approval_tools", mode="before")
    @classmethod
    def _split_approval_tools(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    _drop_blank = model_validator(mode="before")(drop_blank)

    @field_validator("provider", mode="before")
    @classmethod
    def _check_provider(cls, value: Any) -> Any:
        name = value.strip().lower() if isinstance(value, str) else value
        if name not in PROVIDERS:
            raise ValueError(f"{value!r} is not one of {', '.join(PROVIDERS)}")
        return name

    @field_validator("language", mode="before")
    @classmethod
    def _check_language(cls, value: Any) -> Any:
        return parse_language(value) if isinstance(value, str) else value

    @field_validator("base_url", "native_base_url", "responses_base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("workspace_id")
    @classmethod
    def _check_workspace(cls, value: str | None) -> str | None:
        return None if value is None else check_workspace_id(value.strip())

    @model_validator(mode="before")
    @classmethod
    def _region_endpoints(cls, data: Any) -> Any:
        # The region's (and workspace's) URLs, unless a base URL was given explicitly.
        if not isinstance(data, dict):
            return data
        region = _given(data, "region") or DEFAULT_REGION
        workspace = _given(data, "workspace_id")
        if region == DEFAULT_REGION and not workspace:
            return data
        try:
            urls = endpoints(str(region).strip(), str(workspace).strip() if workspace else None)
        except ValueError:
            return data  # the field's own check names the variable
        data = dict(data)
        for name, url in (("base_url", urls.compatible), ("native_base_url", urls.native),
                          ("responses_base_url", urls.responses)):
            if _given(data, name) is None:
                data[name] = url
        return data

    @model_validator(mode="after")
    def _check_workspace_region(self) -> Settings:
        # Every base URL the provider uses must be given, else it would be Beijing's.
        needed = {"base_url", "native_base_url"}
        if self.provider == "responses":
            needed.add("responses_base_url")
        if self.region in WORKSPACE_ONLY and not self.workspace_id and not (
            needed <= self.model_fields_set
        ):
            urls = "both base URLs" if len(needed) == 2 else "all three base URLs"
            raise ValueError(
                f"DASHSCOPE_REGION={self.region} is reached through a workspace: "
                f"set DASHSCOPE_WORKSPACE_ID (or {urls})"
            )
        return self

    @model_validator(mode="after")
    def _check_plain_http(self) -> Settings:
        if not self.allow_insecure_http:
            for variable, url in (
                ("DASHSCOPE_BASE_URL", self.base_url),
                ("DASHSCOPE_HTTP_BASE_URL", self.native_base_url),
                ("DASHSCOPE_RESPONSES_BASE_URL", self.responses_base_url),
            ):
                refuse_plain_http(url, variable)
        return self

    @classmethod
    def from_env(
        cls, dotenv_path: str | os.PathLike[str] | None = None, **overrides: Any
    ) -> Settings:
        """Read the environment and ``dotenv_path`` (default ``./.env``; the environment wins).

        Raises ``ConfigurationError`` naming the variable when a value is invalid.
        """
        path = env_file_path(dotenv_path)
        if overrides.get("geo") is None:
            overrides["geo"] = _read_geo(path)
        try:
            return cls(_env_file=path, **overrides)
        except ValidationError as exc:
            problems = describe_validation_error(exc, "；" if _chinese() else "; ")
            raise ConfigurationError(text("invalid_settings", problems=problems)) from None

    def geo_config(self) -> GeoConfig:
        """The geo tools' settings (read from the environment and ``./.env`` when unset)."""
        return self.geo if self.geo is not None else _read_geo(env_file_path())

    @property
    def base_url_variable(self) -> str:
        """The variable of the endpoint the configured provider talks to."""
        return provider_spec(self.provider).base_url_variable

    @property
    def endpoint(self) -> str:
        """The URL of the endpoint the configured provider talks to."""
        return str(getattr(self, provider_spec(self.provider).base_url_field))

    @property
    def host(self) -> str:
        """Host of the endpoint the configured provider talks to (for error messages)."""
        return urlsplit(self.endpoint).netloc

    def require_api_key(self) -> str:
        """The API key, or ``ConfigurationError`` with the fix when it is missing."""
        if self.api_key is None or not self.api_key.get_secret_value().strip():
            raise ConfigurationError(text("missing_key"))
        return self.api_key.get_secret_value()

    def secrets(self) -> list[str]:
        """Every configured secret, for redaction."""
        amap_key = self.geo.amap_api_key if self.geo is not None else None
        values = [self.api_key.get_secret_value() if self.api_key else None, amap_key]
        return [value for value in values if value]


def _given(data: dict[str, Any], name: str) -> Any:
    """The value ``data`` (a ``Settings`` input) has for field ``name``, by name or alias
    (``None`` when absent or blank)."""
    alias = Settings.model_fields[name].validation_alias
    names = {name, alias.lower() if isinstance(alias, str) else name}
    for key, value in data.items():
        if key.lower() in names and value is not None and str(value).strip():
            return value
    return None


def _read_geo(path: Path) -> GeoConfig:
    try:
        return GeoConfig(_env_file=path)
    except ValidationError as exc:
        problem = describe_validation_error(exc)
        raise ConfigurationError(text("invalid_geo_settings", problem=problem)) from None


def _chinese() -> bool:
    from bailian_geo_agent.prompts.catalogue import language

    return language() == "zh"


def variables(*models: type[BaseSettings]) -> list[tuple[str, str, str]]:
    """``(variable, default, meaning)`` for every setting: the service's, the geo tools' and the
    front doors' (``serve``, ``mcp``); ``geo-agent --help`` and the README's tables list these.
    No other variable is read anywhere (``tests/test_config.py`` checks). ``models``: only
    these settings classes' (e.g. ``variables(ServerSettings)`` for ``serve --help``)."""
    rows = []
    seen: set[str] = set()
    for model in models or (Settings, GeoConfig, ServerSettings):
        for field in model.model_fields.values():
            alias = field.validation_alias
            if not isinstance(alias, str) or alias in seen:
                continue  # the nested geo settings: listed through GeoConfig; shared ones once
            seen.add(alias)
            default = "" if field.default in (None, ()) else str(field.default)
            rows.append((alias, default, (field.description or "").split("\n")[0]))
    return rows


def env_example() -> str:
    """The text of ``.env.example``: every variable, commented, with its default.

    Regenerate the file with ``python -m bailian_geo_agent.agent.config > .env.example``
    after adding a setting.
    """
    lines = [
        "# bailian-geo-agent configuration: copy to .env and set what you need.",
        "# Variables already set in the environment win over this file. Only the key is required.",
        "",
        "DASHSCOPE_API_KEY=",
    ]
    for name, default, meaning in variables():
        if name == "DASHSCOPE_API_KEY":
            continue
        lines += ["", f"# {meaning.replace('``', '')}", f"# {name}={default}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(env_example(), end="")
