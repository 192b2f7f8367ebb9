"""langchain-tests' standard unit suite for DashScopeChatOpenAI."""

from __future__ import annotations

from bailian_geo_agent.agent.providers.openai_compatible import DashScopeChatOpenAI
from langchain_tests.unit_tests import ChatModelUnitTests


class TestDashScopeChatOpenAIStandard(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[DashScopeChatOpenAI]:
        return DashScopeChatOpenAI

    @property
    def chat_model_params(self) -> dict:
        return {"model": "qwen-plus", "api_key": "sk-test", "base_url": "http://127.0.0.1:9/v1"}

    @property
    def init_from_env_params(self) -> tuple[dict, dict, dict]:
        return (
            {"OPENAI_API_KEY": "sk-env", "OPENAI_API_BASE": "http://127.0.0.1:9/v1"},
            {"model": "qwen-plus"},
            {"openai_api_key": "sk-env", "openai_api_base": "http://127.0.0.1:9/v1"},
        )
