"""The LangGraph Agent Server that ``bench.serve`` compares against, and its in-process parts.

``langgraph dev`` (in-memory) serves ``bench/langgraph_app/graph.py`` (a ``create_agent`` graph on
a stock streaming ``ChatOpenAI`` on the bench's fake) from ``bench/.venv-langgraph``
(``bench/langgraph-requirements.txt`` under the project's constraints), made on first use and
remade when either file changes. It is read by its own SDK (``langgraph_sdk`` ``runs.stream``,
threadless, ``stream_mode="messages-tuple"``); the served model and graph also run in process,
to show where the server's per-chunk time goes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

from bench.timing import timed

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
LG_VENV = BENCH / ".venv-langgraph"
LG_REQUIREMENTS = BENCH / "langgraph-requirements.txt"
LG_GRAPH = BENCH / "langgraph_app" / "graph.py"
_LG_STAMP = LG_VENV / ".bench-requirements.sha256"
_LOOPBACK_URL = re.compile(r"http://127\.0\.0\.1:\d+")


def _venv_bin(name: str) -> Path:
    return LG_VENV / ("Scripts" if os.name == "nt" else "bin") / name


def ensure_langgraph_venv() -> str | None:
    """Make or refresh ``bench/.venv-langgraph``; ``None`` when ready, else why it is not."""
    constraints = ROOT / "constraints.txt"
    stamp = hashlib.sha256(LG_REQUIREMENTS.read_bytes() + constraints.read_bytes()).hexdigest()
    langgraph = _venv_bin("langgraph")
    if langgraph.exists() and _LG_STAMP.exists() and _LG_STAMP.read_text().strip() == stamp:
        return None
    print(f"setting up {LG_VENV.relative_to(ROOT)} ({LG_REQUIREMENTS.name}) ...", flush=True)
    try:
        if not _venv_bin("python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(LG_VENV)], check=True, timeout=300)
        subprocess.run([str(_venv_bin("python")), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", "-c", str(constraints),
                        "-r", str(LG_REQUIREMENTS)], check=True, timeout=1200)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"installing {LG_REQUIREMENTS.name} failed ({exc})"
    if not langgraph.exists():
        return f"{langgraph} missing after the install"
    _LG_STAMP.write_text(stamp + "\n")
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _langgraph_env(fake_base_url: str) -> dict[str, str]:
    """The server's environment: offline (no tracing, analytics, version check or license)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LANGSMITH_", "LANGCHAIN_", "LANGGRAPH_", "VIRTUAL_ENV"))
           and k not in ("PYTHONPATH", "LANGCHAIN_API_KEY")}
    env.update({
        "BENCH_FAKE_BASE_URL": fake_base_url,
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        "LANGSMITH_TRACING": "false", "LANGCHAIN_TRACING_V2": "false",
        "LANGSMITH_TRACING_V2": "false", "LANGCHAIN_TRACING": "false",
        "LANGGRAPH_NO_VERSION_CHECK": "true",  # else a thread asks PyPI for a newer version
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LOG_LEVEL": "WARNING",  # like `geo-agent serve --log-level warning`
        "PYTHONUNBUFFERED": "1",
    })
    return env


def start_langgraph(fake_base_url: str, workdir: Path) -> tuple[subprocess.Popen | None, str]:
    """``langgraph dev`` on a loopback port: (process, url), or (None, why it did not start)."""
    reason = ensure_langgraph_venv()
    if reason:
        return None, reason
    # Run from a scratch directory: the in-memory runtime flushes its state to ./.langgraph_api
    # every 10 s (the CLI ignores `disable_persistence` in langgraph.json).
    config = workdir / "langgraph.json"
    spec = {"dependencies": ["."], "graphs": {"agent": f"{LG_GRAPH}:agent"}}
    config.write_text(json.dumps(spec), encoding="utf-8")
    log_path = workdir / "langgraph-dev.log"
    port = _free_port()
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [str(_venv_bin("langgraph")), "dev", "--config", str(config), "--host", "127.0.0.1",
             "--port", str(port), "--no-browser", "--no-reload", "--server-log-level", "warning"],
            cwd=workdir, env=_langgraph_env(fake_base_url), stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        log_text = log_path.read_text(encoding="utf-8", errors="replace")
        found = _LOOPBACK_URL.search(log_text)  # it moves to another port if this one is taken
        url = found.group(0) if found else None
        if url:
            try:
                with urllib.request.urlopen(f"{url}/ok", timeout=2) as response:
                    if response.status == 200:
                        return process, url
            except OSError:
                pass
        time.sleep(0.2)
    tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
    stop(process)
    return None, "langgraph dev did not come up: " + " | ".join(tail)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content or ()
                   if isinstance(block, dict) and block.get("type") == "text")


async def over_langgraph(client, n: int) -> tuple[float, float, float]:
    """One threadless run on the LangGraph server, read with its SDK in messages-tuple mode.

    (first chunk, total, ``metadata`` event): the server sends ``metadata`` when its worker has
    picked the run up, so times from it leave out the in-memory queue's wait (it polls every
    0.5 s, and takes only runs older than the poll's start: 0.5 to 1 s, landing differently in
    each reply).
    """
    from bench.server import instruction

    started = time.perf_counter()
    picked_up: list[float] = []

    async def texts() -> AsyncIterator[str]:
        async for part in client.runs.stream(
                None, "agent", input={"messages": [{"role": "user", "content": instruction(n)}]},
                stream_mode="messages-tuple"):
            if part.event == "metadata" and not picked_up:
                picked_up.append(time.perf_counter() - started)
            elif part.event == "messages":
                message, _metadata = part.data
                if message.get("type") in ("AIMessageChunk", "ai"):
                    text = _text_of(message.get("content"))
                    if text:
                        yield text
            elif part.event == "error":
                raise AssertionError(f"LangGraph server run failed: {part.data}")

    first, total = await timed(texts(), n, "LangGraph server")
    if not picked_up:
        raise AssertionError("LangGraph server sent no metadata event")
    return first, total, picked_up[0]


def load_langgraph_graph(fake_base_url: str):
    """``bench/langgraph_app/graph.py`` imported here: its model, graph and system prompt."""
    import importlib.util

    os.environ["BENCH_FAKE_BASE_URL"] = fake_base_url
    spec = importlib.util.spec_from_file_location("bench_langgraph_graph", LG_GRAPH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.model, module.agent, module.SYSTEM_PROMPT


async def chat_openai(model, prompt: str, n: int) -> tuple[float, float]:
    """The served graph's stock ``ChatOpenAI.astream``, in this process."""
    from bench.server import instruction

    async def texts() -> AsyncIterator[str]:
        async for chunk in model.astream([("system", prompt), ("user", instruction(n))]):
            if text := _text_of(chunk.content):
                yield text

    return await timed(texts(), n, "ChatOpenAI")


async def graph_messages(graph, n: int) -> tuple[float, float]:
    """The served graph itself, ``astream(stream_mode="messages")`` in this process."""
    from bench.server import instruction

    async def texts() -> AsyncIterator[str]:
        async for message, _metadata in graph.astream(
                {"messages": [{"role": "user", "content": instruction(n)}]},
                stream_mode="messages"):
            if message.type in ("AIMessageChunk", "ai") and (text := _text_of(message.content)):
                yield text

    return await timed(texts(), n, "graph")


def langgraph_versions() -> str:
    try:
        out = subprocess.run([str(_venv_bin("python")), "-c",
                              "import importlib.metadata as m; print(' '.join(f'{p} ' "
                              "+ m.version(p) for p in ('langgraph-api', 'langgraph-cli', "
                              "'langgraph-runtime-inmem', 'langgraph', 'langchain-openai')))"],
                             capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return "versions unknown"
    words = out.stdout.split()
    return ", ".join(f"{a} {b}" for a, b in zip(words[::2], words[1::2], strict=True))
