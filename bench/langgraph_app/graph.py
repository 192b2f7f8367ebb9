"""The graph LangGraph's own Agent Server serves for ``python -m bench.serve`` (issue 10).

``create_agent`` on a stock streaming ``ChatOpenAI`` pointed at the benchmark's loopback fake
(``BENCH_FAKE_BASE_URL``), no tools, the project's system prompt: the same graph shape as
``StreamChatService``'s (which adds its own model class and two middlewares). Loaded by
``langgraph dev`` from ``bench/.venv-langgraph``; imports nothing from the project.
"""

from __future__ import annotations

import os
from pathlib import Path

from langchain.agents import create_agent
from langchain_openai import ChatOpenAI

_PROMPT = Path(__file__).resolve().parents[2] / "prompts" / "geo_assistant.md"
_BASE_URL = os.environ["BENCH_FAKE_BASE_URL"]
if not _BASE_URL.startswith(("http://127.0.0.1:", "http://localhost:")):
    raise RuntimeError(f"BENCH_FAKE_BASE_URL must be a loopback URL, not {_BASE_URL!r}")

model = ChatOpenAI(
    model="qwen-plus",
    base_url=_BASE_URL,
    api_key="sk-bench",
    streaming=True,
    max_retries=0,
)

SYSTEM_PROMPT = _PROMPT.read_text(encoding="utf-8").strip()
agent = create_agent(model, [], system_prompt=SYSTEM_PROMPT)
