"""The front doors' settings, read once for ``geo-agent serve`` and ``geo-agent mcp`` alike.

The chat service's own settings (key, model, session store) stay in ``agent.Settings``; these
are what serving adds: who may call (tokens, the tokens file), how much, from which web origins,
and how much is logged. Defined beside the core settings (not in ``agent.server``) so that
``config.variables()`` lists them without the core importing a front door.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from bailian_geo_agent.agent.errors import ConfigurationError
from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.config import (
    ENV_SETTINGS,
    describe_validation_error,
    drop_blank,
    env_file_path,
)
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_CONCURRENT_REPLIES = 8
DEFAULT_MAX_SESSIONS_PER_TOKEN = 10_000
DEFAULT_REQUESTS_PER_MINUTE = 60
DEFAULT_AUTH_FAILURES_PER_MINUTE = 10
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_IDLE_TIMEOUT = 5.0
DEFAULT_MAX_CONNECTIONS = 900
DEFAULT_SEND_TIMEOUT = 30.0
DEFAULT_SSE_PING_SECONDS = 15.0
DEFAULT_STREAM_TTL = 600.0
DEFAULT_STREAM_LEASE = 15.0
DEFAULT_DRAIN_SECONDS = 30.0
DEFAULT_A2A_TEXT_WINDOW = 0.1
LogLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]
MultitaskStrategy = Literal["reject", "enqueue", "interrupt", "rollback"]
"""What a message does while its session's reply runs (``agent.server.multitask``)."""
DEFAULT_LOG_LEVEL: LogLevel = "WARNING"


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class ServerSettings(BaseSettings):
    """What ``geo-agent serve``, ``create_app`` and ``geo-agent mcp`` add to the chat service's
    settings.

    Read like ``agent.Settings``: ``ServerSettings()`` and ``from_env`` read the environment, then
    ``./.env`` (the environment wins); each field's variable is its alias. ``tokens()`` adds the
    tokens file's.
    """

    model_config = ENV_SETTINGS

    api_tokens: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (), validation_alias="GEO_AGENT_API_TOKENS"
    )
    """Bearer tokens accepted, comma-separated (none: no auth, loopback only)."""
    api_tokens_file: Path | None = Field(None, validation_alias="GEO_AGENT_API_TOKENS_FILE")
    """A file with more tokens, one a line (``#`` comments)."""
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias="GEO_AGENT_CORS_ORIGINS"
    )
    """Web origins allowed by CORS, comma-separated (none: CORS off)."""
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias="GEO_AGENT_ALLOWED_HOSTS"
    )
    """Host names the servers answer for, comma-separated (``*.example.com``: its subdomains;
    ``*``: any); others get 421. None: loopback names and the address a request arrived on."""
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias="GEO_AGENT_TRUSTED_PROXIES"
    )
    """Proxies whose ``X-Forwarded-For``/``-Proto`` are believed: IP addresses or networks,
    comma-separated (none: no one; ``*``: any peer)."""
    docs: bool = Field(True, validation_alias="GEO_AGENT_DOCS")
    """Serve the API's documentation at ``/docs`` and ``/openapi.json``."""
    max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES, gt=0, validation_alias="GEO_AGENT_MAX_BODY_BYTES"
    )
    """Largest request body accepted (413 beyond)."""
    max_concurrent_replies: int = Field(
        DEFAULT_MAX_CONCURRENT_REPLIES, ge=0, validation_alias="GEO_AGENT_MAX_CONCURRENT_REPLIES"
    )
    """Replies streaming at once per token (0: no limit)."""
    max_sessions_per_token: int = Field(
        DEFAULT_MAX_SESSIONS_PER_TOKEN, ge=0, validation_alias="GEO_AGENT_MAX_SESSIONS_PER_TOKEN"
    )
    """Sessions stored per token; a new one beyond is refused (0: no cap)."""
    requests_per_minute: int = Field(
        DEFAULT_REQUESTS_PER_MINUTE, ge=0, validation_alias="GEO_AGENT_REQUESTS_PER_MINUTE"
    )
    """Chat requests per token and minute (0: no limit)."""
    auth_failures_per_minute: int = Field(
        DEFAULT_AUTH_FAILURES_PER_MINUTE, ge=0,
        validation_alias="GEO_AGENT_AUTH_FAILURES_PER_MINUTE",
    )
    """Failed authentications per client address and minute before every request from that
    address is answered 429 until the minute has passed (0: no throttle)."""
    header_timeout: float = Field(
        DEFAULT_HEADER_TIMEOUT, gt=0, validation_alias="GEO_AGENT_HEADER_TIMEOUT"
    )
    """Seconds a connection has to send a whole request head (``geo-agent serve``)."""
    idle_timeout: float = Field(
        DEFAULT_IDLE_TIMEOUT, gt=0, validation_alias="GEO_AGENT_IDLE_TIMEOUT"
    )
    """Seconds an idle keep-alive connection is kept open (``geo-agent serve``)."""
    max_connections: int = Field(
        DEFAULT_MAX_CONNECTIONS, ge=0, validation_alias="GEO_AGENT_MAX_CONNECTIONS"
    )
    """Open connections served at once; beyond, 503 with ``Retry-After`` (``geo-agent serve``;
    0: no cap). Keep it below the process's open-files limit (``ulimit -n``)."""
    send_timeout: float = Field(
        DEFAULT_SEND_TIMEOUT, gt=0, validation_alias="GEO_AGENT_SEND_TIMEOUT"
    )
    """Seconds a client may leave a stream unread before its connection is dropped."""
    sse_ping_seconds: float = Field(
        DEFAULT_SSE_PING_SECONDS, gt=0, validation_alias="GEO_AGENT_SSE_PING"
    )
    """Seconds between keep-alive comments on a quiet stream."""
    stream_url: SecretStr | None = Field(None, validation_alias="GEO_AGENT_STREAM_URL")
    """Where replies' events are kept for resuming: ``redis://...`` (shared by every instance)
    or none (in this process)."""
    stream_ttl: float = Field(DEFAULT_STREAM_TTL, gt=0, validation_alias="GEO_AGENT_STREAM_TTL")
    """Seconds a finished reply can still be re-read."""
    stream_lease: float = Field(
        DEFAULT_STREAM_LEASE, gt=0, le=30, validation_alias="GEO_AGENT_STREAM_LEASE"
    )
    """Seconds after which readers of a reply whose instance died get an ``error``
    (interrupted); Redis only."""
    drain_seconds: float = Field(
        DEFAULT_DRAIN_SECONDS, ge=0, validation_alias="GEO_AGENT_DRAIN_SECONDS"
    )
    """Seconds running replies may go on after SIGTERM (new ones get 503) before the rest end
    with an ``error`` (the server is restarting; resume or retry)."""
    log_level: LogLevel = Field(DEFAULT_LOG_LEVEL, validation_alias="GEO_AGENT_LOG_LEVEL")
    """Least severe log records ``geo-agent mcp`` writes to stderr (``DEBUG`` ... ``CRITICAL``)."""
    metrics: Literal["auth", "public", "off"] = Field(
        "auth", validation_alias="GEO_AGENT_METRICS"
    )
    """``GET /metrics`` (Prometheus): behind the API's tokens (``auth``), open to anyone who can
    reach the server (``public``) or not served (``off``)."""
    log_format: Literal["text", "json"] = Field("text", validation_alias="GEO_AGENT_LOG_FORMAT")
    """How ``geo-agent serve`` writes its log records: ``text`` lines or ``json`` lines."""
    daily_token_budget: int = Field(0, ge=0, validation_alias="GEO_AGENT_DAILY_TOKEN_BUDGET")
    """Model tokens (input + output) each API token may spend per UTC day; beyond it new
    replies get 429 until midnight UTC (0: no budget)."""
    # -- multitask
    multitask_strategy: MultitaskStrategy = Field(
        "reject", validation_alias="GEO_AGENT_MULTITASK_STRATEGY")
    """What a message does while its session's reply runs, unless its request says so.
    ``multitask_strategy``: ``reject`` (409), ``enqueue`` (answered after it), ``interrupt``
    (stops it, its partial answer kept) or ``rollback`` (stops it and removes its turn)."""
    # -- a2a
    public_url: str | None = Field(None, validation_alias="GEO_AGENT_PUBLIC_URL")
    """The server's URL as its clients reach it, for the A2A card's endpoint (none: per request).

    ``https://geo.example.com`` (a path prefix too, behind a proxy that adds one); without it,
    the URL comes from each request's ``Host`` (and ``X-Forwarded-Proto`` from a trusted
    proxy)."""
    # -- a2aperf
    a2a_text_window: float = Field(
        DEFAULT_A2A_TEXT_WINDOW, ge=0, le=1, validation_alias="GEO_AGENT_A2A_TEXT_WINDOW")
    """Seconds over which A2A joins the answer's text chunks into one update (0: no waiting).

    The first chunk goes at once; ``0`` joins only the chunks already waiting together."""

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value.rstrip("/") if value is not None else None

    _drop_blank = model_validator(mode="before")(drop_blank)
    _split_lists = field_validator(
        "api_tokens", "cors_origins", "allowed_hosts", "trusted_proxies", mode="before"
    )(_split)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("metrics", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"not an origin (http(s)://host[:port]): {origin!r}")
        return tuple(origin.rstrip("/") for origin in value)

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in value:
            if proxy != "*":
                try:
                    ipaddress.ip_network(proxy, strict=False)
                except ValueError:
                    raise ValueError(f"not an IP address or network: {proxy!r}") from None
        return value

    @classmethod
    def from_env(
        cls, dotenv_path: str | os.PathLike[str] | None = None, **overrides: Any
    ) -> ServerSettings:
        """Read the environment and ``dotenv_path`` (default ``./.env``; the environment wins).

        Raises ``ConfigurationError`` naming the variable of a bad value.
        """
        path = env_file_path(dotenv_path)
        try:
            return cls(_env_file=path, **overrides)
        except ValidationError as exc:
            problems = describe_validation_error(exc)
            error = message_text("server_settings_invalid", problems=problems)
            raise ConfigurationError(error) from None

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
                    message_text(
                        "tokens_file_unreadable",
                        path=self.api_tokens_file,
                        error=type(exc).__name__,
                    )
                ) from None
            for line in text.splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    tokens.append(line)
        return tokens
