"""``geo-agent serve``'s connections: a request head must come within the header timeout (a
slowloris client, or one that sends nothing, is closed), idle keep-alive connections are closed,
connections beyond the cap get a clear 503, and running out of open files is logged once.

Real ``geo-agent serve`` processes, raw sockets on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import REPO, server_env, start_server

HEADER_TIMEOUT = 2.0
IDLE_TIMEOUT = 1.0
CAP = 50
SEND_TIMEOUT = 2.0
SLACK = 3.0  # a loaded 2-core machine


@pytest.fixture(scope="module")
def guarded(fake_dashscope_server, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("guarded")
    env = server_env(fake_dashscope_server.compatible_base_url, workdir,
                     GEO_AGENT_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
                     GEO_AGENT_IDLE_TIMEOUT=str(IDLE_TIMEOUT),
                     GEO_AGENT_MAX_CONNECTIONS=str(CAP),
                     GEO_AGENT_SEND_TIMEOUT=str(SEND_TIMEOUT), GEO_AGENT_MAX_ANSWER_CHARS="0")
    server = start_server(workdir, env)
    try:
        yield server
    finally:
        server.stop()


def _address(server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


async def _closed_after(reader: asyncio.StreamReader, started: float) -> float:
    """Seconds from ``started`` until the server closed the connection (reading it all)."""
    with contextlib.suppress(ConnectionError):
        while await reader.read(65536):
            pass
    return time.monotonic() - started


async def _slowloris(server, stop: asyncio.Event) -> float:
    """A client sending its request head one byte every 0.5 s: when it was closed."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(*_address(server))
    closed = asyncio.ensure_future(_closed_after(reader, started))
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 1000
    for byte in head:
        if closed.done() or stop.is_set():
            break
        with contextlib.suppress(ConnectionError):
            writer.write(bytes([byte]))
            await writer.drain()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(closed), 0.5)
    writer.close()
    return await closed


async def test_slow_and_silent_connections_are_closed_within_the_header_timeout(guarded):
    stop = asyncio.Event()
    slow = [asyncio.ensure_future(_slowloris(guarded, stop)) for _ in range(40)]
    reader, writer = await asyncio.open_connection(*_address(guarded))  # sends nothing
    silent = asyncio.ensure_future(_closed_after(reader, time.monotonic()))
    try:
        async with httpx.AsyncClient(base_url=guarded.url, timeout=5) as client:
            deadline = time.monotonic() + HEADER_TIMEOUT + 30
            while not silent.done() and time.monotonic() < deadline:  # others are served
                assert (await client.get("/healthz")).status_code == 200
                await asyncio.wait({silent}, timeout=0.3)
        closed = await asyncio.wait_for(asyncio.gather(silent, *slow), HEADER_TIMEOUT + 30)
    finally:
        stop.set()
        writer.close()
    assert all(HEADER_TIMEOUT - 0.2 <= t <= HEADER_TIMEOUT + SLACK for t in closed), closed


async def test_a_second_request_head_is_timed_too_and_idle_connections_are_closed(guarded):
    reader, writer = await asyncio.open_connection(*_address(guarded))
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    writer.write(request)
    await writer.drain()
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    idle = await asyncio.wait_for(  # keep-alive, then nothing sent
        _closed_after(reader, time.monotonic()), IDLE_TIMEOUT + 30)
    assert IDLE_TIMEOUT - 0.2 <= idle <= IDLE_TIMEOUT + SLACK
    writer.close()
    # A keep-alive connection that starts its next head and never finishes it.
    reader, writer = await asyncio.open_connection(*_address(guarded))
    writer.write(request)
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"GET /hea")
    await writer.drain()
    cut = await asyncio.wait_for(_closed_after(reader, time.monotonic()), HEADER_TIMEOUT + 30)
    assert cut <= HEADER_TIMEOUT + SLACK
    writer.close()


async def test_connections_beyond_the_cap_get_a_clear_503(guarded):
    held = [await asyncio.open_connection(*_address(guarded)) for _ in range(CAP)]
    try:
        async with httpx.AsyncClient(base_url=guarded.url, timeout=5) as client:
            refused = await client.get("/healthz")
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert refused.headers["connection"] == "close"
            assert refused.json() == {"type": "error", "error": (
                "服务器当前连接数已满（GEO_AGENT_MAX_CONNECTIONS）。请 1 秒后重试。")}
            # The held ones send nothing: closed by the header timeout, then it answers again.
            await asyncio.wait_for(asyncio.gather(
                *(_closed_after(r, 0) for r, _ in held)), HEADER_TIMEOUT + 30)
            assert (await client.get("/healthz")).status_code == 200
    finally:
        for _, writer in held:
            writer.close()
    logs = guarded.logs()
    assert logs.count("connections open (GEO_AGENT_MAX_CONNECTIONS)") == 1, logs


async def test_a_client_that_stops_reading_is_dropped_and_its_reply_runs_on(
        guarded, fake_dashscope):
    from tests.fakes.dashscope import Reply
    from tests.server.conftest import TOKEN_A

    text = "x" * 3_000_000  # far more than the kernel's socket buffers hold
    fake_dashscope.script(Reply(text=text, chunk_size=100))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(_address(guarded))
    body = b'{"message": "long"}'
    sock.sendall(b"POST /v1/chat/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\n"
                 b"Authorization: Bearer " + TOKEN_A.encode() + b"\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
    head = b""
    while (message_id := re.search(rb'"message_id":"([0-9a-f-]{36})"', head)) is None:
        data = sock.recv(4096)
        assert data, head
        head += data
    try:  # it reads nothing more: dropped SEND_TIMEOUT s after the server's writes paused
        deadline = time.monotonic() + SEND_TIMEOUT + 30
        while "read nothing for 2.0 s" not in guarded.logs():
            assert time.monotonic() < deadline, guarded.logs()[-2000:]
            await asyncio.sleep(0.1)
        tail = b""  # what the kernel still held for it, then the end: the stream was cut
        with contextlib.suppress(ConnectionResetError):
            while data := sock.recv(1 << 20):
                tail = (tail + data)[-200:]
        assert b"stream_end" not in tail and not tail.endswith(b"0\r\n\r\n"), tail
    finally:
        sock.close()
    async with httpx.AsyncClient(base_url=guarded.url, timeout=60) as client:  # resumable
        resumed = await client.get(f"/v1/chat/{message_id.group(1).decode()}/events",
                                   headers={"Authorization": f"Bearer {TOKEN_A}",
                                            "Last-Event-ID": "1"})
    chunks = [json.loads(line[6:])["chunk"] for line in resumed.text.splitlines()
              if line.startswith("data: ") and '"stream_chunk"' in line]
    assert "".join(chunks) == text
    assert '"type":"stream_end"' in resumed.text


def _limit_open_files() -> None:  # in the server's process, before it starts
    resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))


async def test_running_out_of_open_files_is_logged_once(fake_dashscope_server, tmp_path):
    env = server_env(fake_dashscope_server.compatible_base_url, tmp_path,
                     GEO_AGENT_MAX_CONNECTIONS="0", GEO_AGENT_HEADER_TIMEOUT="60")
    log = tmp_path / "serve.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "bailian_geo_agent.agent.cli", "serve", "--port", "0"],
            cwd=tmp_path, env={**env, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
            stderr=stderr, text=True, preexec_fn=_limit_open_files)
    held: list[asyncio.StreamWriter] = []
    try:
        assert process.stdout is not None
        line = await asyncio.to_thread(process.stdout.readline)
        url = line.rsplit("listening on ", 1)[1].strip()
        host, port = url.removeprefix("http://").rsplit(":", 1)
        for _ in range(260):  # more than the server's 200 files
            held.append((await asyncio.open_connection(host, int(port)))[1])
        deadline = time.monotonic() + 30
        while "Too many open files" not in Path(log).read_text():
            assert time.monotonic() < deadline, "the server never ran out of files"
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)  # the accept loop retries every second: three bursts' worth
        for writer in held:
            writer.close()
        held.clear()
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            for _ in range(100):  # it serves again once files are free
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the server did not recover")
    finally:
        for writer in held:
            writer.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"it did not stop: {Path(log).read_text()[-3000:]}") from None
    logs = Path(log).read_text()
    assert logs.count("socket.accept() out of system resource") == 1, logs[-3000:]
    assert "repeats are not logged" in logs


def test_the_accept_error_filter_lets_one_through_per_burst():
    from bailian_geo_agent.agent.server.connections import AcceptErrors

    now = [0.0]
    accept = AcceptErrors(quiet=10, clock=lambda: now[0])

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, msg, (), None)

    message = "socket.accept() out of system resource\nsocket: <x>"
    passed = []
    for step in [0, 1, 1, 5, 5, 20, 1]:
        now[0] += step
        passed.append(accept.filter(record(message)))
    assert passed == [True, False, False, False, False, True, False]
    first_of_second = record(message)
    now[0] += 30
    assert accept.filter(first_of_second)
    assert "1 more were left out" in first_of_second.getMessage()
    assert accept.filter(record("something else"))


def test_a_cap_above_the_open_files_limit_is_warned_about(monkeypatch):
    from bailian_geo_agent.agent.server import connections

    monkeypatch.setattr(connections.resource, "getrlimit", lambda _which: (1024, 4096))
    assert connections.check_open_files(900) is None
    for cap in (1000, 0):
        warning = connections.check_open_files(cap)
        assert warning and "1024 open files (ulimit -n)" in warning
