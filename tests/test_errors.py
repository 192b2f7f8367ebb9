"""Provider errors mapped once onto the hierarchy, with messages a person can act on."""

from __future__ import annotations

import httpx2
import openai
import pytest
from bailian_geo_agent.agent.errors import (
    AuthenticationError,
    ContentModerationError,
    DashScopeAPIError,
    GeoAgentError,
    ModelNotFoundError,
    NetworkError,
    PromptTooLongError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
    redact,
    to_agent_error,
)

REQUEST = httpx2.Request(
    "POST", "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions"
)


def openai_status_error(status: int, code: str, message: str = "x") -> openai.APIStatusError:
    body = {"error": {"message": message, "type": code, "param": None, "code": code}}
    response = httpx2.Response(status, request=REQUEST, json=body)
    return openai.OpenAI(api_key="k", max_retries=0)._make_status_error_from_response(response)


@pytest.mark.parametrize(
    ("error", "kind", "words"),
    [
        (openai_status_error(401, "invalid_api_key"), AuthenticationError, "API Key无效"),
        (
            DashScopeAPIError(401, "InvalidApiKey", "Invalid API-key provided."),
            AuthenticationError,
            "API Key无效",
        ),
        (openai_status_error(404, "model_not_found"), ModelNotFoundError, "模型不存在：qwen-x"),
        (DashScopeAPIError(404, "ModelNotFound", "Model not exist."), ModelNotFoundError, "qwen-x"),
        (openai_status_error(429, "limit_requests"), RateLimitError, "请求过于频繁"),
        (
            DashScopeAPIError(429, "Throttling.RateQuota", "Requests rate limit exceeded"),
            RateLimitError,
            "请求过于频繁",
        ),
        (openai_status_error(429, "insufficient_quota"), QuotaExceededError, "额度已用尽"),
        (openai_status_error(400, "data_inspection_failed"), ContentModerationError, "内容安全"),
        (
            openai.APIError(
                "Output data may contain inappropriate content.",
                REQUEST,
                body={"code": "data_inspection_failed"},
            ),
            ContentModerationError,
            "内容安全",
        ),
        (DashScopeAPIError(400, "DataInspectionFailed", "..."), ContentModerationError, "内容安全"),
        (openai_status_error(400, "Arrearage"), QuotaExceededError, "欠费"),
        (
            openai_status_error(
                400, "invalid_parameter_error", "Range of input length should be [1, 129024] "
            ),
            PromptTooLongError,
            "过长",
        ),
        (openai_status_error(500, "internal_error"), ServerError, "HTTP 500"),
        (openai_status_error(503, "ServiceUnavailable"), ServerError, "HTTP 503"),
        (openai.APITimeoutError(request=REQUEST), NetworkError, "网络连接超时"),
        (openai.APIConnectionError(request=REQUEST), NetworkError, "网络连接超时"),
        (TimeoutError(), NetworkError, "网络连接超时"),
        (StreamInterruptedError("回复中断"), StreamInterruptedError, "回复中断"),
    ],
)
def test_provider_errors_map_to_clear_messages(error, kind, words):
    mapped = to_agent_error(error, host="dashscope.aliyuncs.com", model="qwen-x", timeout=30)
    assert isinstance(mapped, kind)
    assert words in str(mapped)


def test_network_error_names_the_host_and_the_fix():
    text = str(to_agent_error(openai.APITimeoutError(request=REQUEST), host="example.test:8080"))
    assert "example.test:8080" in text and "DASHSCOPE_TIMEOUT" in text


def test_unknown_errors_keep_their_type_and_text():
    mapped = to_agent_error(ValueError("boom"))
    assert type(mapped) is GeoAgentError
    assert "ValueError" in str(mapped) and "boom" in str(mapped)


def test_only_transient_errors_are_retryable():
    assert RateLimitError.retryable and ServerError.retryable and NetworkError.retryable
    assert not AuthenticationError.retryable and not ModelNotFoundError.retryable


def test_redact_masks_every_secret_occurrence():
    key = "sk-abcdef0123456789"
    assert redact(f"bad key {key} and again {key}", [key, None]) == "bad key *** and again ***"
    assert redact("nothing here", [key]) == "nothing here"


def test_a_404_that_is_not_about_the_model_points_at_the_base_url():
    from bailian_geo_agent.agent.errors import EndpointNotFoundError

    mapped = to_agent_error(openai_status_error(404, "", "Not Found"), host="localhost:8000")
    assert isinstance(mapped, EndpointNotFoundError)
    assert "DASHSCOPE_BASE_URL" in str(mapped) and "localhost:8000" in str(mapped)
    vllm = openai_status_error(404, "404", "The model `qwen-x` does not exist.")
    assert isinstance(to_agent_error(vllm, model="qwen-x"), ModelNotFoundError)
