"""A real Prometheus (Debian's ``/usr/bin/prometheus``) scrapes a real ``geo-agent serve`` with
a bearer token every second while replies run; PromQL answers the exact counts, which also
equal what ``GET /v1/usage`` and the ``usage`` events say. The server logs JSON lines with
request ids (``GEO_AGENT_LOG_FORMAT=json``)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.dashscope import RecordedRequest, Reply, ToolCall, echo_responder
from tests.helpers import free_port
from tests.server.conftest import TOKEN_A, TOKEN_B, server_env, start_server
from tests.server.helpers import read_sse

PROMETHEUS = Path("/usr/bin/prometheus")
ALERTS = Path(__file__).resolve().parents[2] / "examples" / "deploy" / "alerts.yml"
A = {"Authorization": f"Bearer {TOKEN_A}"}
B = {"Authorization": f"Bearer {TOKEN_B}"}
PLAIN, TOOLS = 24, 5  # replies at once, and how many of them call a tool (one more fails)
CALL = ToolCall("map_set_view", {"lng": 116.397, "lat": 39.909, "zoom": 15})


def responder(request: RecordedRequest) -> Reply:
    """``tool``: a map_set_view call, then an answer; ``fail``: a 429 upstream; else a slow echo
    (about 2 s, so that scrapes see replies in flight)."""
    last = request.messages[-1]
    if last.get("role") == "tool":
        return Reply(text="地图已更新。")
    text = str(last.get("content"))
    if "fail" in text:
        return Reply(status=429, error_code="limit_requests")
    if "tool" in text:
        return Reply(tool_calls=[CALL])
    reply = echo_responder(request)
    reply.chunk_delay = 0.2
    return reply


@pytest.fixture
def prometheus_bin() -> Path:
    if not PROMETHEUS.exists():
        if os.environ.get("CI"):
            pytest.fail("Prometheus is required in CI (.ci/run installs Debian's prometheus)")
        pytest.skip("prometheus not installed")
    return PROMETHEUS


def start_prometheus(binary: Path, workdir: Path, target: str) -> tuple[subprocess.Popen, str]:
    """Prometheus scraping ``target`` (host:port) every second with TOKEN_A; its base URL."""
    credentials = workdir / "token"
    credentials.write_text(TOKEN_A, encoding="utf-8")
    config = workdir / "prometheus.yml"
    config.write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: ["{ALERTS}"]
scrape_configs:
  - job_name: geo-agent
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials_file: {credentials}
    static_configs:
      - targets: ["{target}"]
""", encoding="utf-8")
    port = free_port()
    log = open(workdir / "prometheus.log", "w", encoding="utf-8")  # noqa: SIM115
    process = subprocess.Popen(
        [str(binary), f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=log, cwd=workdir)
    log.close()
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture
def served(fake_dashscope, tmp_path, prometheus_bin) -> Iterator[tuple[object, str]]:
    fake_dashscope.responder = responder
    env = server_env(fake_dashscope.compatible_base_url, tmp_path, GEO_AGENT_LOG_FORMAT="json")
    server = start_server(tmp_path / "serve", env, "--log-level", "info")
    prometheus, url = start_prometheus(prometheus_bin, tmp_path, server.url.split("//", 1)[1])
    try:
        yield server, url
    finally:
        prometheus.terminate()
        try:
            prometheus.wait(10)
        except subprocess.TimeoutExpired:
            prometheus.kill()
            prometheus.wait()
        server.stop()


async def query(client: httpx.AsyncClient, promql: str) -> dict[str, float]:
    """The instant vector of ``promql``, by its labels (``""`` for a single series)."""
    response = await client.get("/api/v1/query", params={"query": promql})
    response.raise_for_status()
    return {",".join(f"{k}={v}" for k, v in sorted(r["metric"].items())): float(r["value"][1])
            for r in response.json()["data"]["result"]}


async def until_equal(client: httpx.AsyncClient, expected: dict[str, dict[str, float]],
                      deadline: float) -> None:
    """Wait until every query answers as expected (scrapes come each second)."""
    answers: dict[str, dict[str, float]] = {}
    while time.monotonic() < deadline:
        answers = {q: await query(client, q) for q in expected}
        if answers == expected:
            return
        await asyncio.sleep(0.5)  # polling Prometheus' answer, not waiting for a reply
    raise AssertionError(f"Prometheus answered {answers}, expected {expected}")


async def alerts_evaluate(prom: httpx.AsyncClient, server: object, deadline: float) -> None:
    """The shipped alerting rules (examples/deploy/alerts.yml) all evaluate without error and
    name only metrics this server exports (a renamed metric would leave an alert silent)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as api:  # type: ignore[attr-defined]
        exposed = (await api.get("/metrics", headers=A)).text
    families = {line.split()[2] for line in exposed.splitlines() if line.startswith("# TYPE")}
    names = {f"{f}{suffix}" for f in families
             for suffix in ("", "_total", "_bucket", "_count", "_sum")} | {"up"}
    rules: list[dict] = []
    while time.monotonic() < deadline:
        groups = (await prom.get("/api/v1/rules")).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        if rules and all(r.get("lastEvaluation", "").startswith("20") and r["health"] == "ok"
                         for r in rules):
            break
        await asyncio.sleep(0.2)
    assert len(rules) == ALERTS.read_text(encoding="utf-8").count("- alert:")
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError"))
                                                     for r in rules]
    import re

    for rule in rules:
        # Metric names only: drop `by (...)` label lists and `label="..."` matchers.
        expr = re.sub(r"by\s*\([^)]*\)|\w+\s*[!=]~?\s*\"[^\"]*\"", "", rule["query"])
        used = set(re.findall(r"\b((?:geo_agent|gen_ai)_[a-z_]+|up)\b", expr))
        assert used and used <= names, (rule["name"], used - names)


async def test_prometheus_scrapes_the_exact_counts(served):
    server, prometheus_url = served
    deadline = time.monotonic() + 45
    async with httpx.AsyncClient(base_url=prometheus_url, timeout=5) as prom:
        up: dict[str, float] | str = {}
        while time.monotonic() < deadline:  # ready, and the first scrape has succeeded
            try:
                up = await query(prom, 'up{job="geo-agent"}')
            except httpx.HTTPError as exc:
                up = repr(exc)
            if isinstance(up, dict) and list(up.values()) == [1]:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"Prometheus never scraped the server: {up}")

        async with httpx.AsyncClient(base_url=server.url, timeout=30) as api:
            wanted = ["usage", "tool_end"]
            jobs = [*((A if i % 2 else B, f"hello {i}") for i in range(PLAIN)),
                    *((A if i % 2 else B, f"tool {i}") for i in range(TOOLS)), (A, "fail 1")]
            replies = await asyncio.gather(*(
                read_sse(api, "/v1/chat/stream", {"message": m, "events": wanted}, auth)
                for auth, m in jobs))
            refused = await api.get("/metrics")
            assert refused.status_code == 401  # the API's auth
            usage = {name: (await api.get("/v1/usage", headers=auth)).json()
                     for name, auth in (("A", A), ("B", B))}
        events = [e[2] for reply in replies for e in reply]
        assert sum(e["type"] == "tool_end" for e in events) == TOOLS
        sent = {}
        for (auth, _), reply in zip(jobs, replies, strict=True):
            for e in reply:
                if e[0] == "usage":
                    key = "A" if auth is A else "B"
                    sent[key] = sent.get(key, 0) + e[2]["input_tokens"]
        assert {k: usage[k]["today"]["input_tokens"] for k in sent} == sent
        chunks = sum(e["type"] == "stream_chunk" for e in events)
        ids = {usage["A"]["api_token"], usage["B"]["api_token"]}
        assert len(ids) == 2 and TOKEN_A not in str(ids)

        await until_equal(prom, {
            "sum(geo_agent_replies_started_total)": {"": PLAIN + TOOLS + 1},
            "sum by (outcome) (geo_agent_replies_finished_total)": {
                "outcome=completed": PLAIN + TOOLS, "outcome=error": 1},
            "sum(geo_agent_replies_in_flight)": {"": 0},
            "sum(geo_agent_chunks_sent_total)": {"": chunks},
            'sum by (gen_ai_tool_name, outcome) (gen_ai_execute_tool_duration_seconds_count)': {
                "gen_ai_tool_name=map_set_view,outcome=ok": TOOLS},
            "sum by (error_type) (geo_agent_upstream_errors_total)": {
                "error_type=RateLimitError": 1},
            'sum by (api_token) (gen_ai_client_token_usage_total{gen_ai_token_type="input"})': {
                f"api_token={usage[k]['api_token']}": usage[k]["today"]["input_tokens"]
                for k in ("A", "B")},
            "sum(gen_ai_server_time_to_first_token_seconds_count)": {"": PLAIN + TOOLS},
        }, deadline)
        seen = await query(prom, "max_over_time(sum(geo_agent_replies_in_flight)[5m:1s])")
        assert 1 <= seen[""] <= PLAIN + TOOLS + 1, seen
        await alerts_evaluate(prom, server, deadline)

    records = [json.loads(line) for line in server.logs().splitlines()
               if line.startswith("{")]
    replies_logged = [r for r in records if r["logger"].endswith("server.metrics")]
    assert sorted(r["outcome"] for r in replies_logged) == ["completed"] * (PLAIN + TOOLS) + [
        "error"]
    requests = {r["request_id"]: r for r in records
                if r["logger"].endswith("request_log") and r.get("route") == "/v1/chat/stream"}
    assert len(requests) == PLAIN + TOOLS + 1
    for reply in replies_logged:  # each reply's line carries its request's id
        assert reply["request_id"] in requests and reply["message_id"]
    assert TOKEN_A not in server.logs() and TOKEN_B not in server.logs()
