"""langchain-openai's private ``ChatOpenAI`` names the lean stream reads, besides the two hooks
it overrides as langchain-deepseek does (``_get_request_payload``,
``_convert_chunk_to_generation_chunk``).

``tests/test_compat.py`` checks each name in ``UPSTREAM`` on ``ChatOpenAI`` itself.
"""

from __future__ import annotations

from langchain_openai import ChatOpenAI

UPSTREAM: dict[str, str] = {
    # Requests through the LangSmith gateway keep the SDK path, which adds the gateway's
    # metadata (correctness, not speed). Since langchain-openai 1.6 (our lower bound).
    "langchain_openai:ChatOpenAI._uses_gateway": "property",
    # The hooks DashScopeChatOpenAI overrides and calls through super().
    "langchain_openai:ChatOpenAI._get_request_payload": "(self, input_, *, stop=None, **kwargs)",
    "langchain_openai:ChatOpenAI._convert_chunk_to_generation_chunk": (
        "(self, chunk, default_chunk_class, base_generation_info)"
    ),
}
"""Each upstream name this package relies on, and the shape it relies on (see
``tests/test_compat.py``)."""


def uses_gateway(model: ChatOpenAI) -> bool:
    """Whether the model routes through the LangSmith gateway (then the SDK path is kept)."""
    return bool(model._uses_gateway)
