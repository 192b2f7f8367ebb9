"""A rolling restart behind nginx loses no reply (issue 21, "restarts lose nothing").

Real parts only: Debian's nginx, started here with its own prefix and the shipped
``examples/deploy/nginx.conf`` (ports rendered in), in front of three ``geo-agent serve``
processes sharing Redis (event log) and PostgreSQL (sessions); the DashScope fake streams the
answers slowly (4 s a reply). 200 clients stream through nginx while every instance is
restarted in turn (SIGTERM, wait for its exit, start it again on its port, wait for
``/readyz``); a third of the clients start in the 3 s before each SIGTERM.

Each client ends with its complete text exactly once: a client whose connection is cut
resumes through nginx with ``Last-Event-ID`` (a fifth of them also leave on purpose after a
few chunks and resume); a reply the restart interrupted (its ``error`` carries SSE
``retry:``) is sent again with ``"retry": true`` in the same session, and the answer says
the model saw the question once; a 503 (draining) is retried after ``Retry-After``. No
other error reaches a client. The time each restart took is printed and bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.fakes.dashscope import RecordedRequest, Reply
from tests.helpers import free_port
from tests.server.conftest import REPO, TOKEN_A, Server, server_env, start_server

NGINX = "/usr/sbin/nginx"
EXAMPLE = REPO / "examples" / "deploy" / "nginx.conf"
CLIENTS = 200
INSTANCES = 3
DRAIN = 2  # seconds: replies started just before a SIGTERM finish, older long ones are cut
AUTH = {"Authorization": f"Bearer {TOKEN_A}"}


def answer(n: int, users: int) -> str:
    """Client ``n``'s answer; ``users``: the user messages the model saw (1: no duplicate)."""
    return f"[{users}] 第{n}个回答：" + "".join(f"第{i}段。" for i in range(24))


def _responder(request: RecordedRequest) -> Reply:
    users = [m for m in request.messages if m.get("role") == "user"]
    n = int(re.search(r"client (\d+)", str(users[-1]["content"])).group(1))
    return Reply(text=answer(n, len(users)), chunk_size=4, chunk_delay=0.1)  # ~4 s


def render(prefix: Path, port: int, upstreams: list[int]) -> Path:
    """The shipped example with this test's ports and paths (it is not root)."""
    conf = EXAMPLE.read_text(encoding="utf-8")
    servers = re.findall(r"^\s*server 127\.0\.0\.1:\d+ .*;$", conf, flags=re.M)
    assert len(servers) == 3, "the example lists three instances"
    block = "\n".join(servers[0].replace("8001", str(p)) for p in upstreams)
    conf = conf.replace("\n".join(servers), block)
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    temp = "".join(f"    {kind}_temp_path {prefix / kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = conf.replace("access_log /var/log/nginx/geo-agent.access.log;",
                        f"access_log {prefix / 'access.log'};\n{temp}")
    path = prefix / "nginx.conf"
    path.write_text(conf, encoding="utf-8")
    return path


@dataclass
class Outcome:
    text: str = ""
    retries: int = 0  # replies sent again after a restart interrupted them
    resumes: int = 0  # reads resumed with Last-Event-ID after leaving on purpose
    reconnects: int = 0  # reads resumed with Last-Event-ID after a cut connection
    refused: int = 0  # 503s (draining) waited out
    errors: list[str] = field(default_factory=list)  # any other error: must stay empty


async def client(http: httpx.AsyncClient, n: int, start_at: float) -> Outcome:
    """One user: ask, read to the end (resume / retry as the README says), keep the text."""
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    out = Outcome()
    body: dict = {"message": f"client {n}"}
    leave_after = 3 if n % 5 == 0 else None  # a fifth leave on purpose and resume
    while True:
        text, last_id, message_id, ended, left = "", 0, None, None, False
        request = ("POST", "/v1/chat/stream", {"json": body})
        while ended is None:
            method, path, kwargs = request
            headers = {**AUTH, **({"Last-Event-ID": str(last_id)} if method == "GET" else {})}
            chunks = 0
            try:
                async with aconnect_sse(http, method, path, headers=headers,
                                        **kwargs) as source:
                    status = source.response.status_code
                    if status == 503 and method == "POST":
                        out.refused += 1
                        await asyncio.sleep(float(source.response.headers["Retry-After"]))
                        continue
                    if status != 200:
                        out.errors.append(f"{method} {status} {await source.response.aread()}")
                        return out
                    async for sse in source.aiter_sse():
                        if not sse.data:
                            continue
                        event = json.loads(sse.data)
                        if int(sse.id) <= last_id:
                            continue  # never twice
                        last_id = int(sse.id)
                        kind = event["type"]
                        message_id = event["message_id"]
                        if kind == "stream_start":
                            body["session_id"] = event["session_id"]
                        elif kind == "stream_chunk":
                            text += event["chunk"]
                            chunks += 1
                        elif kind in ("stream_end", "error"):
                            ended = (kind, event, sse.retry)
                            break
                        if leave_after and chunks >= leave_after:
                            leave_after, left = None, True
                            break  # the reply runs on (resume: true); read it elsewhere
            except (httpx.TransportError, httpx_sse_error()):
                pass  # cut: resume below
            if ended is None:
                if message_id is None:
                    continue  # never started: ask again
                if left:
                    out.resumes += 1
                else:
                    out.reconnects += 1
                left = False
                request = ("GET", f"/v1/chat/{message_id}/events", {})
        kind, event, retry = ended
        if kind == "stream_end":
            out.text = text
            return out
        if retry is None:  # an error no restart explains: shown to the user
            out.errors.append(event["error"])
            out.text = text
            return out
        out.retries += 1  # interrupted by a restart: the same message again, same session
        body["retry"] = True


def httpx_sse_error() -> type[Exception]:
    from httpx_sse import SSEError

    return SSEError


async def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} not ready")


def start_nginx(prefix: Path, conf: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log"),
         "-g", f"daemon off; pid {prefix / 'nginx.pid'};"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return process


def wait_listening(port: int, process: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"nginx exited: {process.stderr.read() if process.stderr else ''}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("nginx did not listen")


def _proxy_errors(log: Path) -> list[str]:
    """nginx's errors other than a refused connect (retried on the next instance): what an
    error a client saw came from (a 502's cause)."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [line for line in lines if "[error]" in line and "(111: Connection refused)" not in line
            and "prematurely closed connection while reading upstream" not in line][-20:]


@pytest.fixture
def nginx_binary() -> str:
    if not (os.path.exists(NGINX) and os.access(NGINX, os.X_OK)):
        if os.environ.get("CI"):
            pytest.fail(f"nginx is required in CI ({NGINX}; .ci/run installs it)")
        pytest.skip("nginx is not installed")
    return NGINX


async def test_a_rolling_restart_behind_nginx_loses_no_reply(
        nginx_binary, fake_dashscope, redis_url, pg_url, tmp_path):
    fake_dashscope.responder = _responder
    env = server_env(fake_dashscope.compatible_base_url, tmp_path,
                     GEO_AGENT_STREAM_URL=redis_url, SESSION_STORE_URL=pg_url,
                     GEO_AGENT_DRAIN_SECONDS=str(DRAIN), GEO_AGENT_SSE_PING="1",
                     GEO_AGENT_TRUSTED_PROXIES="127.0.0.1")  # as the example says
    ports = [free_port() for _ in range(INSTANCES)]
    loop = asyncio.get_running_loop()

    def start(i: int) -> Server:
        return start_server(tmp_path / f"i{i}", env, "--port", str(ports[i]),
                            "--log-level", "warning")

    servers = list(await asyncio.gather(*(loop.run_in_executor(None, start, i)
                                          for i in range(INSTANCES))))
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    proxy_port = free_port()
    nginx = start_nginx(prefix, render(prefix, proxy_port, ports))
    restarts: list[tuple[float, float]] = []
    try:
        wait_listening(proxy_port, nginx)
        for port in ports:
            await wait_ready(f"http://127.0.0.1:{port}")
        limits = httpx.Limits(max_connections=CLIENTS * 2, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy_port}",
                                     timeout=httpx.Timeout(30, connect=10),
                                     limits=limits) as http:
            began = time.monotonic()
            clients: list[asyncio.Task[Outcome]] = []
            group = CLIENTS // INSTANCES + 1
            for i in range(INSTANCES):
                # A group of clients starts over the 3 s before each SIGTERM: the older of
                # their replies finish within the drain, the younger ones are cut.
                now = time.monotonic()
                for n in range(i * group, min(CLIENTS, (i + 1) * group)):
                    at = now + 3.0 * (n - i * group) / group
                    clients.append(asyncio.create_task(client(http, n, at)))
                await asyncio.sleep(3.2)
                t0 = time.monotonic()
                servers[i].process.send_signal(signal.SIGTERM)
                code = await loop.run_in_executor(None, servers[i].process.wait, 30)
                exited = time.monotonic() - t0
                assert code == 0, servers[i].logs()[-3000:]
                servers[i] = await loop.run_in_executor(None, start, i)
                await wait_ready(servers[i].url)
                restarts.append((exited, time.monotonic() - t0))
            outcomes = await asyncio.wait_for(asyncio.gather(*clients), 60)
            total = time.monotonic() - began
    finally:
        for server in servers:
            server.stop()
        nginx.send_signal(signal.SIGQUIT)
        try:
            nginx.wait(10)
        except subprocess.TimeoutExpired:
            nginx.kill()
        proxy_errors = _proxy_errors(prefix / "error.log")
        shutil.rmtree(prefix, ignore_errors=True)
    for i, (exited, ready) in enumerate(restarts):
        print(f"\nrestart {i + 1}: drained and exited in {exited:.2f} s, ready again after "
              f"{ready:.2f} s")
    print(f"{CLIENTS} clients in {total:.1f} s: {sum(o.retries for o in outcomes)} retried "
          f"after a restart, {sum(o.resumes for o in outcomes)} resumed by Last-Event-ID "
          f"after leaving, {sum(o.reconnects for o in outcomes)} after a cut connection, "
          f"{sum(o.refused for o in outcomes)} 503s waited out")
    assert [o.errors for o in outcomes if o.errors] == [], proxy_errors
    for n, outcome in enumerate(outcomes):
        assert outcome.text == answer(n, 1), (n, outcome)
    assert sum(o.retries for o in outcomes) > 0  # the restarts did cut replies
    assert sum(o.resumes for o in outcomes) >= CLIENTS // 5
    for exited, ready in restarts:
        assert exited < DRAIN + 5 and ready < DRAIN + 30
