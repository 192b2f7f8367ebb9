"""One surface per cross-cutting concern: each helper is defined once and used everywhere."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
from bailian_geo_agent.tools import infra, security

ROOT = Path(__file__).parents[1]

ONE_HOME = {
    "is_loopback": "tools/security.py",
    "is_private_host": "tools/security.py",
    "redact": "tools/security.py",
    "RedactSecrets": "tools/security.py",
    "http_url": "tools/security.py",
    "refuse_plain_http": "tools/security.py",
    "version": "tools/infra.py",
    "read_capped": "tools/infra.py",
    "token_hash": "agent/access.py",
    "BearerCheck": "agent/access.py",
    "default_store_url": "agent/sessions/stores/urls.py",
}
"""Each shared helper and the one module defining it."""
FORMER_COPIES = {"_read_capped", "_http_url", "_private_host", "_is_private_ip",
                 "RedactKeysFilter", "_check_bearer"}
"""Names the copies had: none may come back as a definition."""


def _definitions() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for folder in ("agent", "tools", "prompts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    found.setdefault(node.name, []).append(path.relative_to(ROOT).as_posix())
    return found


def test_each_shared_helper_is_defined_once():
    defined = _definitions()
    assert {name: defined.get(name) for name in ONE_HOME} == {
        name: [home] for name, home in ONE_HOME.items()}
    assert {name: defined[name] for name in FORMER_COPIES if name in defined} == {}


def test_the_old_names_are_the_one_helpers():
    from bailian_geo_agent.agent import errors, logs
    from bailian_geo_agent.agent.mcp import transports
    from bailian_geo_agent.agent.server import auth
    from bailian_geo_agent.tools import http

    assert errors.redact is http.redact is security.redact
    assert logs.RedactSecrets is http.RedactKeysFilter is security.RedactSecrets
    assert auth.is_loopback is transports.is_loopback is security.is_loopback


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("LOCALHOST", True), ("0.0.0.0", False), ("::", False),
    ("192.168.1.2", False), ("example.com", False), ("localhost.example.com", False)])
def test_is_loopback(host: str, loopback: bool):
    assert security.is_loopback(host) is loopback


def test_redact_masks_secrets_and_key_parameters():
    line = "GET https://x/v3?key=abc123&city=1 with sk-secret-1 and tok"
    assert security.redact(line, ["sk-secret-1", "tok", None]) == (
        "GET https://x/v3?key=***&city=1 with *** and tok")  # 3 characters: too short to mask


def test_redact_masks_url_passwords():
    from bailian_geo_agent.agent.sessions.stores.urls import display_url

    url = "postgresql://geo:s3cr%2Ft@db.internal:5432/geo"
    assert security.redact(f"cannot reach {url}") == (
        "cannot reach postgresql://geo:***@db.internal:5432/geo")
    assert display_url(url) == "postgresql://geo:***@db.internal:5432/geo"
    assert display_url("postgresql://geo@db/geo") == "postgresql://geo@db/geo"
    assert security.redact("mail me at someone@example.com") == "mail me at someone@example.com"


def test_one_log_filter_masks_both(caplog: pytest.LogCaptureFixture):
    logger = logging.getLogger("bailian_geo_agent.test_one_surface")
    redactor = security.RedactSecrets(["sk-secret-1"])
    logger.addFilter(redactor)
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            logger.info("calling %s?token=%s with %s", "https://h/p", "t0k3n", "sk-secret-1")
    finally:
        logger.removeFilter(redactor)
    assert caplog.messages == ["calling https://h/p?token=*** with ***"]


def test_http_url_is_the_one_url_check():
    from bailian_geo_agent.agent.config import Settings
    from bailian_geo_agent.tools.config import GeoConfig
    from pydantic import ValidationError

    assert security.http_url("https://a.test/v1/") == "https://a.test/v1"
    for bad in ("ftp://a.test", "https://", "a.test"):
        with pytest.raises(ValueError, match="not an http"):
            security.http_url(bad)
        with pytest.raises(ValidationError, match="not an http"):
            Settings(api_key="k", base_url=bad)
        with pytest.raises(ValidationError, match="not an http"):
            GeoConfig(osrm_base_url=bad)


async def test_read_capped():
    async def chunks(*parts: bytes):
        for part in parts:
            yield part

    assert await infra.read_capped(chunks(b"ab", b"cd"), 4) == b"abcd"
    with pytest.raises(infra.ResponseTooLarge):
        await infra.read_capped(chunks(b"ab", b"cde"), 4)
    with pytest.raises(infra.ResponseTooLarge):  # the declared length is enough
        await infra.read_capped(chunks(), 4, declared=5)


def test_one_version_everywhere():
    from bailian_geo_agent.agent.mcp import __version__
    from bailian_geo_agent.tools.http import DEFAULT_USER_AGENT

    assert __version__ == infra.version() != ""
    assert DEFAULT_USER_AGENT.startswith(f"bailian-geo-agent/{infra.version()} ")


def test_one_default_store_url():
    from bailian_geo_agent.agent.sessions.stores.urls import default_store_url, store_url

    assert store_url(None) == default_store_url()
    assert store_url("memory://") == "memory://"
