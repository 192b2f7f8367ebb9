"""Service configuration: Pydantic fields whose defaults come from the environment and ``.env``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from agent.errors import MISSING_KEY_MESSAGE, ConfigurationError

DEFAULT_MODEL = "qwen-plus"
DEFAULT_BASE_URL = "https://dashscope.aliyuncs.com/compatible-mode/v1"
DEFAULT_NATIVE_BASE_URL = "https://dashscope.aliyuncs.com/api/v1"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_MESSAGE_CHARS = 8000
DEFAULT_HISTORY_MAX_TURNS = 20
DEFAULT_HISTORY_MAX_TOKENS = 16000
DEFAULT_SESSION_IDLE_TTL = 30 * 24 * 3600.0
DEFAULT_SESSION_LOCK_TIMEOUT = 60.0


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else default


def _secret_env(name: str) -> SecretStr | None:
    value = _env(name)
    return SecretStr(value) if value else None


class Settings(BaseModel):
    """Everything the chat service needs; each field defaults to its environment variable."""

    model_config = ConfigDict(frozen=True, validate_default=True)

    api_key: SecretStr | None = Field(default_factory=lambda: _secret_env("DASHSCOPE_API_KEY"))
    """``DASHSCOPE_API_KEY``: the Bailian (DashScope) API key."""
    model: str = Field(default_factory=lambda: _env("DASHSCOPE_MODEL", DEFAULT_MODEL))
    """``DASHSCOPE_MODEL``: the Qwen model to call."""
    base_url: str = Field(default_factory=lambda: _env("DASHSCOPE_BASE_URL", DEFAULT_BASE_URL))
    """``DASHSCOPE_BASE_URL``: the OpenAI-compatible endpoint (DashScope, vLLM, Ollama, ...)."""
    provider: Literal["openai", "tongyi"] = Field(
        default_factory=lambda: (_env("DASHSCOPE_PROVIDER", "openai") or "openai").lower()
    )
    """``DASHSCOPE_PROVIDER``: ``openai`` (ChatOpenAI, compatible mode) or ``tongyi`` (native)."""
    native_base_url: str = Field(
        default_factory=lambda: _env("DASHSCOPE_HTTP_BASE_URL", DEFAULT_NATIVE_BASE_URL)
    )
    """``DASHSCOPE_HTTP_BASE_URL``: the native API used by the ``tongyi`` provider."""
    timeout: float = Field(
        default_factory=lambda: _env("DASHSCOPE_TIMEOUT", str(DEFAULT_TIMEOUT)), gt=0
    )
    """``DASHSCOPE_TIMEOUT``: seconds without data before a request is abandoned."""
    max_retries: int = Field(
        default_factory=lambda: _env("DASHSCOPE_MAX_RETRIES", str(DEFAULT_MAX_RETRIES)), ge=0, le=10
    )
    """``DASHSCOPE_MAX_RETRIES``: retries of 429/5xx/connection failures before any text is sent."""
    max_message_chars: int = Field(
        default_factory=lambda: _env("GEO_AGENT_MAX_MESSAGE_CHARS", str(DEFAULT_MAX_MESSAGE_CHARS)),
        gt=0,
    )
    """``GEO_AGENT_MAX_MESSAGE_CHARS``: longest user message accepted."""
    session_store_url: str | None = Field(default_factory=lambda: _env("SESSION_STORE_URL"))
    """``SESSION_STORE_URL``: ``sqlite:///path``, ``memory://`` or ``postgresql://...``.

    Unset: ``sqlite:///`` in ``$XDG_DATA_HOME/bailian-geo-agent/sessions.sqlite``."""
    history_max_turns: int = Field(
        default_factory=lambda: _env("GEO_AGENT_HISTORY_MAX_TURNS", str(DEFAULT_HISTORY_MAX_TURNS)),
        gt=0,
    )
    """``GEO_AGENT_HISTORY_MAX_TURNS``: most recent user turns sent to the model."""
    history_max_tokens: int = Field(
        default_factory=lambda: _env(
            "GEO_AGENT_HISTORY_MAX_TOKENS", str(DEFAULT_HISTORY_MAX_TOKENS)
        ),
        gt=0,
    )
    """``GEO_AGENT_HISTORY_MAX_TOKENS``: approximate token budget of the history sent."""
    session_idle_ttl: float = Field(
        default_factory=lambda: _env("SESSION_IDLE_TTL", str(DEFAULT_SESSION_IDLE_TTL)), ge=0
    )
    """``SESSION_IDLE_TTL``: seconds after which an idle session is deleted (0: never)."""
    session_lock_timeout: float = Field(
        default_factory=lambda: _env("SESSION_LOCK_TIMEOUT", str(DEFAULT_SESSION_LOCK_TIMEOUT)),
        gt=0,
    )
    """``SESSION_LOCK_TIMEOUT``: seconds a message waits for the session's previous reply."""

    @field_validator("base_url", "native_base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value.rstrip("/")

    @classmethod
    def from_env(
        cls, dotenv_path: str | os.PathLike[str] | None = None, **overrides: object
    ) -> Settings:
        """Load ``.env`` (from the working directory by default; the environment wins), then read.

        Raises ``ConfigurationError`` naming the variable when a value is invalid.
        """
        load_env_file(dotenv_path)
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise ConfigurationError(_describe_validation_error(exc)) from None

    @property
    def host(self) -> str:
        """Host of the endpoint the configured provider talks to (for error messages)."""
        url = self.native_base_url if self.provider == "tongyi" else self.base_url
        return urlsplit(url).netloc

    def require_api_key(self) -> str:
        """The API key, or ``ConfigurationError`` with the fix when it is missing."""
        if self.api_key is None or not self.api_key.get_secret_value().strip():
            raise ConfigurationError(MISSING_KEY_MESSAGE)
        return self.api_key.get_secret_value()


_FIELD_VARIABLES = {
    "api_key": "DASHSCOPE_API_KEY",
    "model": "DASHSCOPE_MODEL",
    "base_url": "DASHSCOPE_BASE_URL",
    "provider": "DASHSCOPE_PROVIDER",
    "native_base_url": "DASHSCOPE_HTTP_BASE_URL",
    "timeout": "DASHSCOPE_TIMEOUT",
    "max_retries": "DASHSCOPE_MAX_RETRIES",
    "max_message_chars": "GEO_AGENT_MAX_MESSAGE_CHARS",
    "session_store_url": "SESSION_STORE_URL",
    "history_max_turns": "GEO_AGENT_HISTORY_MAX_TURNS",
    "history_max_tokens": "GEO_AGENT_HISTORY_MAX_TOKENS",
    "session_idle_ttl": "SESSION_IDLE_TTL",
    "session_lock_timeout": "SESSION_LOCK_TIMEOUT",
}


def _describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        variable = _FIELD_VARIABLES.get(field, field)
        problems.append(f"{variable}：{error['msg']}")
    return "配置无效，请检查.env文件或环境变量：" + "；".join(problems)


_loaded_env_files: set[Path] = set()


def load_env_file(dotenv_path: str | os.PathLike[str] | None = None) -> None:
    """Load ``dotenv_path`` (default ``./.env``) without overriding variables already set."""
    from dotenv import load_dotenv

    path = Path(dotenv_path) if dotenv_path is not None else Path.cwd() / ".env"
    if path.is_file():
        load_dotenv(path, override=False)
        _loaded_env_files.add(path.resolve())


def env_file_loaded() -> bool:
    """Whether this process already loaded an env file (so others should not add their own)."""
    return bool(_loaded_env_files)
