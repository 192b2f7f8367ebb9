"""The private upstream APIs in ``agent._compat`` still have the shape we rely on.

An upstream release that changes one of them fails here, by name, instead of corrupting a
stream at run time.
"""

from __future__ import annotations

import inspect

import pytest
from bailian_geo_agent.agent._compat import langchain_openai as lc_openai
from bailian_geo_agent.agent._compat.pydantic import construct
from bailian_geo_agent.agent.providers._chunks import text_chunk
from bailian_geo_agent.agent.providers.openai_compatible import DashScopeChatOpenAI
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk


@pytest.fixture
def model() -> DashScopeChatOpenAI:
    return DashScopeChatOpenAI(model="qwen-plus", api_key="sk-test", base_url="http://127.0.0.1:1")


def test_langchain_openai_private_methods(model: DashScopeChatOpenAI) -> None:
    payload = inspect.signature(type(model)._get_request_payload).parameters
    assert {"input_", "stop"} <= set(payload) and any(
        p.kind is p.VAR_KEYWORD for p in payload.values()
    )
    convert = inspect.signature(type(model)._convert_chunk_to_generation_chunk).parameters
    assert list(convert)[1:4] == ["chunk", "default_chunk_class", "base_generation_info"]
    body = lc_openai.request_payload(model, [], None, stream=True)
    assert body["model"] == "qwen-plus" and body["stream"] is True
    assert lc_openai.should_stream_usage(model, True) is True
    assert lc_openai.uses_gateway(model) is False
    raw = {"choices": [{"index": 0, "delta": {"content": "北"}, "finish_reason": None}]}
    chunk = lc_openai.chunk_converter(model)(raw, AIMessageChunk, None)
    assert isinstance(chunk, ChatGenerationChunk) and chunk.text == "北"


def test_fast_construct_covers_every_field() -> None:
    """``text_chunk`` writes every field of both models: a new upstream field fails here."""
    chunk = text_chunk("北京", {}, frozenset({"content"}))
    assert set(chunk.message.__dict__) == set(AIMessageChunk.model_fields)
    assert set(chunk.__dict__) == set(ChatGenerationChunk.model_fields)
    assert AIMessageChunk.model_config.get("extra") == "allow"
    assert chunk.message.__pydantic_extra__ == {} and chunk.__pydantic_extra__ is None
    assert chunk == ChatGenerationChunk(message=AIMessageChunk(content="北京"))
    assert not AIMessageChunk.__private_attributes__
    assert not ChatGenerationChunk.__private_attributes__


def test_construct_matches_model_construct() -> None:
    values = {name: field.get_default(call_default_factory=True)
              for name, field in AIMessageChunk.model_fields.items()}
    values["content"] = "x"
    fast = construct(AIMessageChunk, {"content"}, dict(values))
    assert fast == AIMessageChunk.model_construct({"content"}, **values)


def test_aiohttp_stream_reader_buffer() -> None:
    import asyncio

    import aiohttp
    from aiohttp.base_protocol import BaseProtocol
    from bailian_geo_agent.agent._compat.aiohttp import unread

    async def check() -> bytes:
        protocol = BaseProtocol(asyncio.get_running_loop())
        reader = aiohttp.StreamReader(protocol, 2**16, loop=asyncio.get_running_loop())
        reader.feed_data(b"data:1\n\n")
        reader.feed_data(b"data:2")
        return unread(reader)

    assert asyncio.run(check()) == b"data:1\n\ndata:2"


def test_dashscope_internals() -> None:
    from bailian_geo_agent.agent._compat import dashscope as ds

    assert ds.resolve_base_url("http://h/api/v1", None).rstrip("/") == "http://h/api/v1"
    headers = ds.get_sdk_headers(module=ds.get_api_module("dashscope.aigc.generation"))
    assert isinstance(headers, dict)
    assert isinstance(ds.get_user_agent(), str)
    assert issubclass(ds.InputRequired, Exception) and issubclass(ds.ModelRequired, Exception)
    assert ds.get_ssl_context() is not None


def test_postgres_saver_cursor() -> None:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    parameters = inspect.signature(AsyncPostgresSaver._cursor).parameters
    assert next(iter(parameters)) == "self"
    assert all(p.default is not p.empty for p in list(parameters.values())[1:])


def test_httpx_imports_its_cli_optionally() -> None:
    """``skip_cli_import`` relies on httpx importing ``._main`` under ``except ImportError``."""
    import subprocess
    import sys
    from importlib.util import find_spec
    from pathlib import Path

    spec = find_spec("httpx")
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).read_text(encoding="utf-8")
    assert "from ._main import main\nexcept ImportError" in source.replace("    ", "")
    probe = (
        "import sys\n"
        "from bailian_geo_agent.agent._compat.httpx import skip_cli_import\n"
        "skip_cli_import()\n"
        "import httpx\n"
        "assert sys.modules['httpx._main'] is None\n"
        "assert callable(httpx.main) and httpx.AsyncClient\n"
        "print('rich' in sys.modules, 'pygments' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
