"""``geo-agent serve``'s start-up: the agent built before it listens, the collector tuned for
many replies in flight, and a start that does not depend on the agent being buildable."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
from bailian_geo_agent.agent.cli._startup import SERVING_GC_THRESHOLD

from tests.server.conftest import REPO, server_env, start_server

# Runs ``geo-agent serve`` as its console script does and, once it has started, reports the
# process's collector and whether the session store was opened, then stops it (uvicorn
# re-raises the signal once it has shut down).
_PROBE = """
import gc, json, os, signal, sys
from bailian_geo_agent.agent.cli import _startup, main
seen = {}
real = _startup.settled
def spy(serving=False):
    real(serving)
    seen.update(serving=serving, enabled=gc.isenabled(), threshold=list(gc.get_threshold()),
                frozen=gc.get_freeze_count(), store=os.path.exists(store))
    print("SEEN", json.dumps(seen), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
_startup.settled = spy
store = sys.argv[1]
sys.argv = ["geo-agent", "serve", "--port", "0", "--log-level", "warning"]
main()
"""


def test_serve_builds_the_agent_before_it_listens_and_tunes_its_collector(
        fake_dashscope, tmp_path):
    env = server_env(fake_dashscope.compatible_base_url, tmp_path)
    store = tmp_path / "sessions.sqlite"  # created by the agent's build (the checkpointer)
    out = subprocess.run([sys.executable, "-c", _PROBE, str(store)], cwd=tmp_path,
                         env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                         timeout=90)
    [line] = [x for x in out.stdout.splitlines() if x.startswith("SEEN ")] or [out.stderr]
    seen = json.loads(line.removeprefix("SEEN "))
    assert "Traceback" not in out.stderr, out.stderr
    assert seen == {"serving": True, "enabled": True,
                    "threshold": list(SERVING_GC_THRESHOLD), "frozen": seen["frozen"],
                    "store": True}
    assert seen["frozen"] > 100_000  # the whole stack, imported before it listened
    assert fake_dashscope.requests == []  # building calls no model (the log is this test's)


async def test_serve_starts_and_says_not_ready_when_the_agent_cannot_be_built(
        fake_dashscope_server, tmp_path, unused_tcp_port):
    env = server_env(fake_dashscope_server.compatible_base_url, tmp_path,
                     SESSION_STORE_URL=f"postgresql://geo@127.0.0.1:{unused_tcp_port}/none")
    server = start_server(tmp_path, env)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["session_store"] != "ok"
    finally:
        server.stop()
    logs = server.logs()
    assert "the agent could not be built at start-up" in logs
    assert "Traceback" not in logs
