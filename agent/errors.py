"""One small exception hierarchy, and the single place provider errors become user-facing text.

Every ``GeoAgentError`` carries a message a person can act on, rendered from ``prompts.catalogue``
in the language in force. ``to_agent_error`` maps anything raised by the openai SDK, httpx, the
dashscope SDK or our own model wrappers onto this hierarchy; it uses duck typing so that
neither the openai nor the dashscope package has to be imported to classify an error.
"""

from __future__ import annotations

import json
from typing import Any

from bailian_geo_agent.prompts.catalogue import text
from bailian_geo_agent.tools.security import redact as redact  # the one redactor


class GeoAgentError(Exception):
    """Base class: ``str(error)`` is a clear message safe to show to the user."""

    retryable: bool = False


class ConfigurationError(GeoAgentError):
    """The service is misconfigured (missing key, invalid setting)."""


class InvalidInputError(GeoAgentError):
    """The caller's input (message or session id) was rejected before any model call."""


class SessionBusyError(GeoAgentError):
    """Another reply is still being written to the same session."""


class SessionStoreError(GeoAgentError):
    """The session store (SQLite file or PostgreSQL) could not be used."""

    retryable = True


class ProviderError(GeoAgentError):
    """The model provider failed to produce a complete reply."""


class AuthenticationError(ProviderError):
    """The provider rejected the API key."""


class ModelNotFoundError(ProviderError):
    """The requested model does not exist or is not available to this account."""


class EndpointNotFoundError(ProviderError):
    """The base URL does not serve the chat completions API (HTTP 404 not about a model)."""


class RateLimitError(ProviderError):
    """Too many requests (HTTP 429)."""

    retryable = True


class QuotaExceededError(ProviderError):
    """The account's quota or balance is exhausted."""


class ContentModerationError(ProviderError):
    """The provider's content safety check rejected the input or the output."""


class PromptTooLongError(ProviderError):
    """The conversation is longer than the model accepts."""


class ServerError(ProviderError):
    """The provider answered with a 5xx error."""

    retryable = True


class NetworkError(ProviderError):
    """The endpoint could not be reached, or sent nothing for too long."""

    retryable = True


class StreamInterruptedError(ProviderError):
    """The stream ended before the model finished its answer."""

    retryable = True


class StreamLimitError(ProviderError):
    """A line or event of the model's stream was longer than the configured cap."""


class ReplyTimeoutError(ProviderError):
    """The reply, or one model call in it, ran past its deadline."""


class AnswerTooLongError(ProviderError):
    """The answer grew past ``GEO_AGENT_MAX_ANSWER_CHARS``."""


class ToolRoundsExceededError(ProviderError):
    """The model kept calling tools past ``GEO_AGENT_MAX_TOOL_ROUNDS`` without answering."""


class DashScopeAPIError(Exception):
    """An error answer from DashScope's native API (raised by the ChatTongyi path).

    Shaped like ``openai.APIStatusError`` (``status_code``, ``code``, ``message``) so that
    ``to_agent_error`` classifies both the same way.
    """

    def __init__(
        self, status_code: int, code: str | None, message: str, request_id: str | None = None
    ) -> None:
        super().__init__(f"{status_code} {code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message
        self.request_id = request_id


_AUTH_CODES = {"invalid_api_key", "invalidapikey"}
_MODEL_CODES = {"model_not_found", "modelnotfound"}
_MODERATION_CODES = {"data_inspection_failed", "datainspectionfailed"}
_ARREARS_CODES = {"arrearage"}
_QUOTA_CODES = {"insufficient_quota", "allocationquota.freetieronly"}
# What DashScope says of an unknown model beside HTTP 400 InvalidParameter (native: "Model not
# exist."; compatible mode also "Model can not be found.").
_MODEL_MARKERS = ("model not exist", "model can not be found", "model not found")
_TOO_LONG_MARKERS = ("range of input length", "input length", "too long", "maximum context")


def _error_code(exc: BaseException) -> str:
    """The provider's error code, from an openai ``APIError`` body or a DashScope error."""
    code = getattr(exc, "code", None)
    if not code:
        body = getattr(exc, "body", None)
        if isinstance(body, dict):
            inner: Any = body.get("error") if isinstance(body.get("error"), dict) else body
            code = inner.get("code") or inner.get("type")
    return str(code or "").strip().lower()


def _provider_text(exc: BaseException) -> str:
    return str(getattr(exc, "message", None) or exc)


def _is_timeout(exc: BaseException) -> bool:
    name = type(exc).__name__
    return "Timeout" in name or isinstance(exc, TimeoutError)


def _is_connection_error(exc: BaseException) -> bool:
    name = type(exc).__name__
    return name in {
        "APIConnectionError",
        "ConnectError",
        "ConnectionError",
        "ClientConnectorError",
        "ServerDisconnectedError",
        "ClientOSError",
        "RemoteProtocolError",
        "ReadError",
        "ClientPayloadError",
    } or isinstance(exc, ConnectionError)


def _connect_failure(exc: BaseException) -> str | None:
    """``"dns"`` or ``"refused"`` when a cause of ``exc`` says why a connection failed."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if name in ("gaierror", "ClientConnectorDNSError") or "Name or service not known" in str(
            current
        ):
            return "dns"
        if isinstance(current, ConnectionRefusedError) or "Connection refused" in str(current):
            return "refused"
        current = current.__cause__ or current.__context__ or getattr(current, "os_error", None)
    return None


def network_error(host: str, timeout: float | None = None, variable: str = "") -> NetworkError:
    """The error for an endpoint that cannot be reached or stops sending data."""
    waited = text("network_waited", seconds=f"{timeout:g}") if timeout else ""
    return NetworkError(
        text(
            "network_timeout",
            waited=waited,
            host=host,
            variable=variable or "DASHSCOPE_BASE_URL",
        )
    )


_STORE_MODULES = ("sqlite3", "psycopg", "psycopg_pool", "aiosqlite")


def _is_store_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in _STORE_MODULES


def _store_problem(exc: BaseException) -> str:
    """What went wrong with the store, in words (no class name, no server's text)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if isinstance(exc, TimeoutError) or any("Timeout" in name for name in names):
        return text("store_timed_out")
    if isinstance(exc, ConnectionError) or names & {"OperationalError", "InterfaceError"}:
        return text("store_connection_failed")
    return text("store_query_failed")


def to_agent_error(
    exc: BaseException,
    *,
    host: str = "",
    model: str = "",
    timeout: float | None = None,
    store: str = "",
    base_url_variable: str = "",
) -> GeoAgentError:
    """Map any exception raised while producing a reply onto the hierarchy above.

    ``base_url_variable`` names the setting of the endpoint in use (for the 404 and network
    messages): ``DASHSCOPE_BASE_URL`` or, for the native API, ``DASHSCOPE_HTTP_BASE_URL``.
    """
    if isinstance(exc, GeoAgentError):
        return exc
    if _is_store_error(exc):
        # The setting's name, never the URL (user, host, database) nor a class name: this text
        # reaches HTTP bodies; the store's own log lines keep the details.
        shown = "SESSION_STORE_URL" if not store or "://" in store else store
        return SessionStoreError(text("store_unavailable", store=shown, error=_store_problem(exc)))
    code = _error_code(exc)
    status = getattr(exc, "status_code", None)
    detail = _provider_text(exc).lower()
    variable = base_url_variable or "DASHSCOPE_BASE_URL"

    if code in _AUTH_CODES or status == 401:
        return AuthenticationError(text("auth_failed"))
    if status == 404 and code not in _MODEL_CODES and "model" not in detail:
        return EndpointNotFoundError(
            text("endpoint_not_found", host=host or text("model_service"), variable=variable)
        )
    if code in _MODEL_CODES or status == 404 or (
        status == 400 and any(marker in detail for marker in _MODEL_MARKERS)
    ):
        return ModelNotFoundError(text("model_not_found", model=model or text("unknown_model")))
    if code in _MODERATION_CODES:
        return ContentModerationError(text("moderation"))
    if code in _ARREARS_CODES:
        return QuotaExceededError(text("arrears"))
    if code in _QUOTA_CODES:
        return QuotaExceededError(text("quota_exhausted"))
    if status == 400 and any(marker in detail for marker in _TOO_LONG_MARKERS):
        return PromptTooLongError(text("prompt_too_long"))
    if status == 429 or code.startswith(("limit_requests", "throttling")):
        return RateLimitError(text("rate_limited"))
    if isinstance(status, int) and status >= 500:
        return ServerError(text("server_error", status=status))
    failure = _connect_failure(exc) if _is_timeout(exc) or _is_connection_error(exc) else None
    if failure is not None:
        key = "dns_failed" if failure == "dns" else "connection_refused"
        return NetworkError(text(key, host=host or text("model_service"), variable=variable))
    if _is_timeout(exc) or _is_connection_error(exc):
        return network_error(host or text("model_service"), timeout, variable)
    if isinstance(exc, json.JSONDecodeError):  # a malformed line in the provider's stream
        return ProviderError(text("malformed_stream"))
    if isinstance(status, int):
        return ProviderError(
            text("provider_status", status=status, code=code or text("unknown_code"))
        )
    if code:
        return ProviderError(text("provider_stream_error", code=code))
    return GeoAgentError(
        text("unexpected_error", error=f"{type(exc).__name__}: {_provider_text(exc)}")
    )
