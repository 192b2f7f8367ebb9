"""The upstream names the chat models rely on, checked on the upstream classes themselves.

Two tables: ``UPSTREAM`` of each ``agent/_compat`` module (the private names, each kept for a
reason given there) and ``SURFACE`` below (the partner-package hooks and public fields the
providers override or read). Each entry is resolved on the upstream module or class (never on
our subclasses) and its shape compared: a signature without annotations, ``property``,
``class``, ``callable``, ``slot`` or ``field``. An upstream release that changes one fails
``test_upstream_shape[<name>]``; ``test_fence_names_a_changed_*`` change each upstream entry
on purpose and check that the fence reports exactly that name.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import textwrap
from collections.abc import AsyncIterator, Iterator
from importlib import import_module
from typing import Any

import pytest
from bailian_geo_agent.agent._compat import aiohttp as compat_aiohttp
from bailian_geo_agent.agent._compat import httpx as compat_httpx
from bailian_geo_agent.agent._compat import langchain_core as compat_core
from bailian_geo_agent.agent._compat import langchain_openai as compat_openai
from bailian_geo_agent.agent._compat import pydantic as compat_pydantic
from bailian_geo_agent.agent._compat import uvicorn as compat_uvicorn
from bailian_geo_agent.agent._compat.langchain_core import OwnAsyncGenerate
from bailian_geo_agent.agent._compat.pydantic import construct
from bailian_geo_agent.agent.providers._chunks import text_chunk
from bailian_geo_agent.agent.providers.openai_compatible import DashScopeChatOpenAI
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

_BASE_HOOK = "(self, messages, stop=None, run_manager=None, **kwargs)"
_CORE = "langchain_core.language_models:BaseChatModel"
_TONGYI = "langchain_community.chat_models.tongyi:ChatTongyi"
_OPENAI = "langchain_openai:ChatOpenAI"

SURFACE: dict[str, str] = {
    # The hooks both chat models override (langchain-core calls them with these arguments).
    f"{_CORE}._astream": _BASE_HOOK,
    f"{_CORE}._agenerate": _BASE_HOOK,
    f"{_CORE}._stream": _BASE_HOOK,
    f"{_CORE}._generate": _BASE_HOOK,
    # What DashScopeChatOpenAI calls through super() and reads.
    "langchain_openai.chat_models.base:BaseChatOpenAI._astream": (
        "(self, messages, stop=None, run_manager=None, *, stream_usage=None, **kwargs)"
    ),
    f"{_OPENAI}._agenerate": _BASE_HOOK,
    f"{_OPENAI}.bind_tools": (
        "(self, tools, *, tool_choice=None, strict=None, parallel_tool_calls=None,"
        " response_format=None, **kwargs)"
    ),
    f"{_OPENAI}.with_structured_output": (
        "(self, schema=None, *, method='json_schema', include_raw=False, strict=None,"
        " tools=None, **kwargs)"
    ),
    **{
        f"{_OPENAI}.{name}": "field"
        for name in (
            "stream_usage",
            "model_kwargs",
            "include_response_headers",
            "root_async_client",
            "http_async_client",
            "output_version",
            "max_retries",
            "streaming",
        )
    },
    # What DashScopeChatTongyi reads instead of ChatTongyi's private ``_default_params``.
    **{
        f"{_TONGYI}.{name}": "field"
        for name in ("model_name", "top_p", "dashscope_api_key", "model_kwargs", "streaming")
    },
    f"{_TONGYI}.bind_tools": "(self, tools, **kwargs)",
}


def _compat_tables() -> dict[str, str]:
    from bailian_geo_agent.agent._compat import dashscope as compat_dashscope

    table: dict[str, str] = {}
    for module in (compat_aiohttp, compat_dashscope, compat_httpx, compat_core, compat_openai,
                   compat_pydantic, compat_uvicorn):
        table.update(module.UPSTREAM)
    return table


FENCE = {**_compat_tables(), **SURFACE}
_MISSING = object()
_GONE = {"slot": "not a slot", "field": "not a field", "attribute": "not an attribute"}
_GONE = {shape: _GONE.get(shape, "missing") for shape in set(FENCE.values())}


def _owner_and_name(path: str) -> tuple[Any, str]:
    module, _, attribute = path.partition(":")
    *owners, name = attribute.split(".")
    owner: Any = import_module(module)
    for part in owners:
        owner = getattr(owner, part)
    return owner, name


def _assigned_in_init(owner: Any, name: str) -> bool:
    """Whether ``owner.__init__`` sets ``self.<name>`` (an instance attribute upstream)."""
    try:
        source = textwrap.dedent(inspect.getsource(owner.__init__))
    except (OSError, TypeError):
        return False
    for node in ast.walk(ast.parse(source)):
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Attribute) and t.attr == name and isinstance(t.value, ast.Name)
               and t.value.id == "self" for t in targets):
            return True
    return False


def shape_of(path: str, expected: str) -> str:
    """The shape of the upstream name ``path`` (``module:Owner.name``), in ``expected``'s terms."""
    owner, name = _owner_and_name(path)
    if expected == "slot":
        return "slot" if name in getattr(owner, "__slots__", ()) else "not a slot"
    if expected == "field":
        return "field" if name in owner.model_fields else "not a field"
    if expected == "attribute":
        return "attribute" if _assigned_in_init(owner, name) else "not an attribute"
    found = inspect.getattr_static(owner, name, _MISSING)
    if found is _MISSING:
        return "missing"
    if isinstance(found, property):
        return "property"
    if inspect.isclass(found):
        return "class"
    if expected == "int":
        return "int" if type(found) is int else f"not an int ({type(found).__name__})"
    if expected == "callable":
        return "callable" if callable(found) else f"not callable ({type(found).__name__})"
    if isinstance(found, (staticmethod, classmethod)):
        found = found.__func__
    if not callable(found):
        return f"not callable ({type(found).__name__})"
    signature = inspect.signature(found)
    bare = [p.replace(annotation=p.empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=bare, return_annotation=signature.empty))


def fence_problems(table: dict[str, str]) -> list[str]:
    """One line per upstream name whose shape is not the expected one, naming it."""
    problems = []
    for path, expected in table.items():
        found = shape_of(path, expected)
        if found != expected:
            problems.append(f"{path}: expected {expected}, found {found}")
    return problems


@pytest.mark.parametrize("path", sorted(FENCE))
def test_upstream_shape(path: str) -> None:
    assert fence_problems({path: FENCE[path]}) == []


def test_every_compat_module_declares_its_upstream_names() -> None:
    from pathlib import Path

    import bailian_geo_agent.agent._compat as package

    modules = {p.stem for p in Path(package.__path__[0]).glob("*.py")} - {"__init__"}
    # langgraph.py belongs to the sessions' part (checked by test_postgres_saver_cursor).
    declared = {m for m in modules - {"langgraph"}
                if hasattr(import_module(f"{package.__name__}.{m}"), "UPSTREAM")}
    assert declared == modules - {"langgraph"}


# -- the fence fails, by name, when an upstream shape changes ----------------------------------


def _changed(expected: str) -> Any:
    """Something of another shape than ``expected``."""
    if expected == "property":
        return lambda self: False  # a plain method now
    if expected == "class":
        return lambda *args: None
    if expected == "callable":
        return None

    def changed(self: Any, renamed: Any, *, added: Any) -> None: ...

    return changed


@pytest.mark.parametrize(
    "path", sorted(p for p, shape in FENCE.items() if shape not in {"slot", "field", "attribute"})
)
def test_fence_names_a_changed_signature(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    owner, name = _owner_and_name(path)
    monkeypatch.setattr(owner, name, _changed(FENCE[path]))
    problems = fence_problems(FENCE)
    assert len(problems) == 1 and problems[0].startswith(f"{path}: expected {FENCE[path]},")


@pytest.mark.parametrize("path", sorted(p for p, shape in FENCE.items() if shape != "field"))
def test_fence_names_a_removed_name(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    owner, name = _owner_and_name(path)
    if FENCE[path] == "slot":
        slots = tuple(slot for slot in owner.__slots__ if slot != name)
        monkeypatch.setattr(owner, "__slots__", slots)
    elif FENCE[path] == "attribute":  # an __init__ that no longer sets it

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            self.other = None

        monkeypatch.setattr(owner, "__init__", __init__)
    elif inspect.ismodule(owner):
        monkeypatch.delattr(owner, name)
    else:  # gone from the class and every base that defines it
        for cls in owner.__mro__:
            if name in vars(cls):
                monkeypatch.delattr(cls, name)
    problems = fence_problems(FENCE)
    assert f"{path}: expected {FENCE[path]}, found {_GONE[FENCE[path]]}" in problems
    # Only entries for that name (a base class's entry may go with it).
    assert all(p.partition(":")[2].startswith(tuple(
        f"{q.partition(':')[2]}: " for q in FENCE if _owner_and_name(q)[1] == name
    )) for p in problems), problems


@pytest.mark.parametrize("path", sorted(p for p, shape in FENCE.items() if shape == "field"))
def test_fence_names_a_removed_field(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    owner, name = _owner_and_name(path)
    fields = {k: v for k, v in owner.model_fields.items() if k != name}
    # ``model_fields`` reads ``__pydantic_fields__`` since pydantic 2.10; a class dict before.
    stored = "__pydantic_fields__" if "__pydantic_fields__" in vars(owner) else "model_fields"
    monkeypatch.setattr(owner, stored, fields)
    assert fence_problems(FENCE) == [f"{path}: expected field, found not a field"]


# -- langchain-core: ainvoke reaches the model's own _agenerate (agent._compat.langchain_core) --


class _StreamingHandler(AsyncCallbackHandler):
    """A streaming callback handler, as ``ChunkStreamHandler`` is."""

    def tap_output_aiter(self, run_id: Any, output: AsyncIterator[Any]) -> AsyncIterator[Any]:
        return output

    def tap_output_iter(self, run_id: Any, output: Iterator[Any]) -> Iterator[Any]:
        return output


class _Recorder(BaseChatModel):
    """A bare ``BaseChatModel``: which of its hooks langchain-core calls."""

    calls: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "recorder"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        raise NotImplementedError

    async def _agenerate(self, messages: list[BaseMessage], stop: Any = None,
                         run_manager: Any = None, **kwargs: Any) -> ChatResult:
        self.calls.append("_agenerate")
        return ChatResult(generations=[ChatGeneration(message=AIMessage("ok"))])

    async def _astream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        self.calls.append("_astream")
        yield ChatGenerationChunk(message=AIMessageChunk(content="ok"))


class _OwnGenerate(OwnAsyncGenerate, _Recorder):
    pass


def routing() -> dict[str, list[str]]:
    """The hooks ``ainvoke`` and ``astream`` reach, with and without ``OwnAsyncGenerate``."""

    async def run(cls: type[_Recorder]) -> list[str]:
        model = cls(streaming=True)
        config: Any = {"callbacks": [_StreamingHandler()]}
        await model.ainvoke("hi", config=config)
        model.calls.append("|")
        async for _ in model.astream("hi", config=config):
            pass
        return model.calls

    return {cls.__name__: asyncio.run(run(cls)) for cls in (_Recorder, _OwnGenerate)}


EXPECTED_ROUTING = {
    "_Recorder": ["_astream", "|", "_astream"],  # langchain-core streams and collects itself
    "_OwnGenerate": ["_agenerate", "|", "_astream"],
}


def test_langchain_core_ainvoke_reaches_own_agenerate() -> None:
    assert routing() == EXPECTED_ROUTING


def test_routing_fence_fails_when_ainvoke_ignores_should_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An upstream ``ainvoke`` that streams without asking ``_should_stream`` is reported."""

    async def always_streams(self: Any, messages: Any, stop: Any = None, run_manager: Any = None,
                             **kwargs: Any) -> ChatResult:
        chunks = [chunk async for chunk in self._astream(messages, stop=stop, **kwargs)]
        merged = chunks[0]
        for chunk in chunks[1:]:
            merged += chunk
        return ChatResult(generations=[ChatGeneration(message=AIMessage(merged.text))])

    monkeypatch.setattr(BaseChatModel, "_agenerate_with_cache", always_streams)
    assert routing()["_OwnGenerate"] == ["_astream", "|", "_astream"]


# -- behaviour of what the _compat modules wrap ---------------------------------------------------


def test_chat_openai_hooks_as_overridden() -> None:
    model = DashScopeChatOpenAI(model="qwen-plus", api_key="sk-test", base_url="http://127.0.0.1:1")
    body = model._get_request_payload([], stream=True)
    assert body["model"] == "qwen-plus" and body["stream"] is True
    assert compat_openai.uses_gateway(model) is False
    raw = {"choices": [{"index": 0, "delta": {"content": "北"}, "finish_reason": None}]}
    chunk = model._convert_chunk_to_generation_chunk(raw, AIMessageChunk, None)
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
    import aiohttp
    from aiohttp.base_protocol import BaseProtocol

    async def check() -> bytes:
        protocol = BaseProtocol(asyncio.get_running_loop())
        reader = aiohttp.StreamReader(protocol, 2**16, loop=asyncio.get_running_loop())
        reader.feed_data(b"data:1\n\n")
        reader.feed_data(b"data:2")
        await reader.readexactly(2)
        return compat_aiohttp.unread(reader)

    assert asyncio.run(check()) == b"ta:1\n\ndata:2"


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


def test_the_library_defers_httpx_cli_without_taking_it_away() -> None:
    """Importing the service leaves httpx's CLI (click, rich) unloaded through the agent graph's
    imports; touching ``httpx._main`` loads the real one (a host process keeps its httpx)."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "import bailian_geo_agent.agent.service\n"
        "import langchain.agents, httpx\n"
        "print('click' in sys.modules, 'rich' in sys.modules)\n"
        "import httpx._main as cli\n"
        "assert callable(httpx.main) and callable(cli.print_help)\n"
        "print('click' in sys.modules, httpx.main.__module__ == 'httpx._main')\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False", "True", "False"]


def test_constraints_pin_every_dependency_inside_its_range() -> None:
    """CI installs constraints.txt (the newest tested) and ``.ci/lower-bounds`` the lower
    bounds: each runtime dependency has both bounds and its pin lies between them."""
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = {}
    for line in (root / "constraints.txt").read_text(encoding="utf-8").splitlines():
        name, _, version = line.partition("==")
        if version:
            pins[canonicalize_name(name)] = version.strip()
    outside = []
    for dependency in project["dependencies"]:
        requirement = Requirement(dependency)
        operators = {spec.operator for spec in requirement.specifier}
        pin = pins.get(canonicalize_name(requirement.name))
        if operators != {">=", "<"} or pin is None or pin not in requirement.specifier:
            outside.append(f"{dependency} (constraints.txt: {pin})")
    assert outside == []
