"""Server settings: Pydantic fields whose defaults come from ``GEO_AGENT_*`` environment variables.

The chat service's own settings (key, model, session store) stay in ``agent.Settings``; these
are only what the HTTP surface adds: who may call it, how much, and from which web origins.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from agent.errors import ConfigurationError

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_CONCURRENT_REPLIES = 8
DEFAULT_REQUESTS_PER_MINUTE = 60
DEFAULT_SSE_PING_SECONDS = 15.0

VARIABLES = {
    "api_tokens": "GEO_AGENT_API_TOKENS",
    "api_tokens_file": "GEO_AGENT_API_TOKENS_FILE",
    "cors_origins": "GEO_AGENT_CORS_ORIGINS",
    "max_body_bytes": "GEO_AGENT_MAX_BODY_BYTES",
    "max_concurrent_replies": "GEO_AGENT_MAX_CONCURRENT_REPLIES",
    "requests_per_minute": "GEO_AGENT_REQUESTS_PER_MINUTE",
    "sse_ping_seconds": "GEO_AGENT_SSE_PING",
}
"""Each setting's environment variable (``geo-agent serve --help`` and the README list them)."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else default


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class ServerSettings(BaseModel):
    """What ``geo-agent serve`` and ``create_app`` add to the chat service's settings."""

    model_config = ConfigDict(frozen=True, validate_default=True)

    api_tokens: tuple[SecretStr, ...] = Field(
        default_factory=lambda: tuple(SecretStr(t) for t in _split(_env("GEO_AGENT_API_TOKENS")))
    )
    """``GEO_AGENT_API_TOKENS``: bearer tokens accepted, comma-separated (none: no auth)."""
    api_tokens_file: Path | None = Field(
        default_factory=lambda: _env("GEO_AGENT_API_TOKENS_FILE")
    )
    """``GEO_AGENT_API_TOKENS_FILE``: a file with more tokens, one a line (``#`` comments)."""
    cors_origins: tuple[str, ...] = Field(
        default_factory=lambda: tuple(_split(_env("GEO_AGENT_CORS_ORIGINS")))
    )
    """``GEO_AGENT_CORS_ORIGINS``: web origins allowed by CORS, comma-separated (none: CORS off)."""
    max_body_bytes: int = Field(
        default_factory=lambda: _env("GEO_AGENT_MAX_BODY_BYTES", str(DEFAULT_MAX_BODY_BYTES)),
        gt=0,
    )
    """``GEO_AGENT_MAX_BODY_BYTES``: largest request body accepted (413 beyond)."""
    max_concurrent_replies: int = Field(
        default_factory=lambda: _env(
            "GEO_AGENT_MAX_CONCURRENT_REPLIES", str(DEFAULT_MAX_CONCURRENT_REPLIES)
        ),
        ge=0,
    )
    """``GEO_AGENT_MAX_CONCURRENT_REPLIES``: replies streaming at once per token (0: no limit)."""
    requests_per_minute: int = Field(
        default_factory=lambda: _env(
            "GEO_AGENT_REQUESTS_PER_MINUTE", str(DEFAULT_REQUESTS_PER_MINUTE)
        ),
        ge=0,
    )
    """``GEO_AGENT_REQUESTS_PER_MINUTE``: chat requests per token and minute (0: no limit)."""
    sse_ping_seconds: float = Field(
        default_factory=lambda: _env("GEO_AGENT_SSE_PING", str(DEFAULT_SSE_PING_SECONDS)), gt=0
    )
    """``GEO_AGENT_SSE_PING``: seconds between keep-alive comments on a quiet stream."""

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"not an origin (http(s)://host[:port]): {origin!r}")
        return tuple(origin.rstrip("/") for origin in value)

    @classmethod
    def from_env(cls, **overrides: object) -> ServerSettings:
        """Read the environment; ``ConfigurationError`` names the variable of a bad value."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else ""
                problems.append(f"{VARIABLES.get(field, field)}：{error['msg']}")
            raise ConfigurationError("服务配置无效：" + "；".join(problems)) from None

    def tokens(self) -> list[str]:
        """Every accepted token: the variable's, then the file's.

        Raises ``ConfigurationError`` when the tokens file cannot be read.
        """
        tokens = [t.get_secret_value() for t in self.api_tokens]
        if self.api_tokens_file is not None:
            try:
                text = self.api_tokens_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigurationError(
                    f"GEO_AGENT_API_TOKENS_FILE 无法读取（{self.api_tokens_file}）："
                    f"{type(exc).__name__}。"
                ) from None
            for line in text.splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    tokens.append(line)
        return tokens
