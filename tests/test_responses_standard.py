"""langchain-tests' standard unit suite for DashScopeResponses (the ``responses`` provider)."""

from __future__ import annotations

from bailian_geo_agent.agent.providers.responses import DashScopeResponses
from langchain_tests.unit_tests import ChatModelUnitTests


class TestDashScopeResponsesStandard(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[DashScopeResponses]:
        return DashScopeResponses

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
