"""One small exception hierarchy, and the single place provider errors become user-facing text.

Every ``GeoAgentError`` carries a message a person can act on (in Chinese, like the rest of the
product's user-facing text). ``to_agent_error`` maps anything raised by the openai SDK, httpx,
the dashscope SDK or our own model wrappers onto this hierarchy; it uses duck typing so that
neither the openai nor the dashscope package has to be imported to classify an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

MISSING_KEY_MESSAGE = (
    "阿里云百炼API Key未配置：请在.env文件中配置DASHSCOPE_API_KEY（或设置同名环境变量）。"
)


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
_TOO_LONG_MARKERS = ("range of input length", "input length", "too long", "maximum context")


def _error_code(exc: BaseException) -> str:
    """The provider's error code, from an openai ``APIError`` body or a DashScope error."""
    code = getattr(exc, "code", None)
    if not code:
        body = getattr(exc, "body", None)
        if isinstance(body, dict):
            inner = body.get("error") if isinstance(body.get("error"), dict) else body
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


def network_error(host: str, timeout: float | None = None) -> NetworkError:
    """The error for an endpoint that cannot be reached or stops sending data."""
    waited = f"{timeout:g}秒内" if timeout else ""
    return NetworkError(
        f"网络连接超时：{waited}未能从 {host} 收到数据。"
        "请检查网络或代理设置、DASHSCOPE_BASE_URL是否正确，必要时调大DASHSCOPE_TIMEOUT后重试。"
    )


_STORE_MODULES = ("sqlite3", "psycopg", "psycopg_pool", "aiosqlite")


def _is_store_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in _STORE_MODULES


def to_agent_error(
    exc: BaseException,
    *,
    host: str = "",
    model: str = "",
    timeout: float | None = None,
    store: str = "",
) -> GeoAgentError:
    """Map any exception raised while producing a reply onto the hierarchy above."""
    if isinstance(exc, GeoAgentError):
        return exc
    if _is_store_error(exc):
        return SessionStoreError(
            f"会话存储不可用（{store or 'SESSION_STORE_URL'}）：{type(exc).__name__}。"
            "本次消息未保存，之前的对话不受影响。请检查数据库是否在运行、SESSION_STORE_URL是否正确。"
        )
    code = _error_code(exc)
    status = getattr(exc, "status_code", None)
    text = _provider_text(exc).lower()

    if code in _AUTH_CODES or status == 401:
        return AuthenticationError(
            "阿里云百炼API Key无效，已被服务端拒绝（HTTP 401）。"
            "请在.env文件中检查DASHSCOPE_API_KEY是否正确、是否已过期或被禁用。"
        )
    if status == 404 and code not in _MODEL_CODES and "model" not in text:
        return EndpointNotFoundError(
            f"接口地址不存在（HTTP 404）：{host or '模型服务'} 上没有对话补全接口。"
            "请检查DASHSCOPE_BASE_URL（DashScope 兼容模式应以 /compatible-mode/v1 结尾，"
            "vLLM、Ollama 等一般以 /v1 结尾）。"
        )
    if code in _MODEL_CODES or status == 404:
        return ModelNotFoundError(
            f"模型不存在：{model or '未知模型'}。请在DASHSCOPE_MODEL中填写可用的模型名称"
            "（例如 qwen-plus、qwen-max、qwen-turbo），并确认账号已开通该模型。"
        )
    if code in _MODERATION_CODES:
        return ContentModerationError(
            "内容安全检查未通过：输入或输出可能包含不当内容，本次回复已中止。请修改问题后重试。"
        )
    if code in _ARREARS_CODES:
        return QuotaExceededError("阿里云账号已欠费，无法调用模型。请在阿里云控制台充值后重试。")
    if code in _QUOTA_CODES:
        return QuotaExceededError("阿里云百炼调用额度已用尽。请在控制台查看额度或开通付费后重试。")
    if status == 400 and any(marker in text for marker in _TOO_LONG_MARKERS):
        return PromptTooLongError(
            "对话内容过长，超过了模型允许的输入长度。请缩短问题，或开始一个新的会话。"
        )
    if status == 429 or code.startswith(("limit_requests", "throttling")):
        return RateLimitError("请求过于频繁（HTTP 429），多次重试后仍被限流。请稍后再试。")
    if isinstance(status, int) and status >= 500:
        return ServerError(
            f"阿里云百炼服务暂时不可用（HTTP {status}），多次重试后仍失败。请稍后再试。"
        )
    if _is_timeout(exc) or _is_connection_error(exc):
        return network_error(host or "模型服务", timeout)
    if isinstance(exc, json.JSONDecodeError):  # a malformed line in the provider's stream
        return ProviderError(
            "模型服务返回了无法解析的数据（流式响应格式错误），本次回复已中止。请重试。"
        )
    if isinstance(status, int):
        return ProviderError(f"模型服务返回错误（HTTP {status}，{code or '未知错误码'}）。")
    if code:
        return ProviderError(f"模型服务在回复过程中返回错误（{code}），本次回复已中止。")
    return GeoAgentError(f"处理请求时出错：{type(exc).__name__}: {_provider_text(exc)}")


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of each secret in ``text`` with a fixed mask."""
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, "***")
    return text
