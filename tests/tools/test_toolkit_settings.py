"""Each ``GeoToolkit`` owns its HTTP client, built from its own settings: two toolkits with
different ``GEO_USER_AGENT`` / ``GEO_MAX_RESPONSE_BYTES`` / ``GEO_HTTP_TIMEOUT`` in one process
behave differently (the first one's client was once shared by all)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bailian_geo_agent.prompts.catalogue import use_language
from bailian_geo_agent.tools import GeoToolkit
from bailian_geo_agent.tools.config import GeoConfig

from tests.tools.fake_open import FakeOpenProviders

BIG = {"results": [{"name": "x" * 100, "latitude": 0.0, "longitude": 0.0}] * 20}
"""A geocoding answer of about 2.5 KB: over a 1024-byte cap, far under the default 2 MiB."""


def _toolkit(monkeypatch: pytest.MonkeyPatch, fake: FakeOpenProviders, **env: str) -> GeoToolkit:
    """A toolkit read from the environment (as ``GeoToolkit()`` in an app), set to ``env``."""
    for name, value in {**fake.env(), "GEO_PROVIDER": "open", **env}.items():
        monkeypatch.setenv(name, value)
    return GeoToolkit()


async def test_two_toolkits_keep_their_own_settings(
    monkeypatch: pytest.MonkeyPatch, fake_open: FakeOpenProviders, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./.env of the developer's
    first = _toolkit(monkeypatch, fake_open, GEO_USER_AGENT="first-app/1.0",
                     GEO_HTTP_TIMEOUT="10")
    second = _toolkit(monkeypatch, fake_open, GEO_USER_AGENT="second-app/2.0",
                      GEO_HTTP_TIMEOUT="30", GEO_MAX_RESPONSE_BYTES="1024")
    try:
        fake_open.override("open-meteo-geocoding", 200, BIG)
        weather = {t.name: t for t in first.get_tools()}["get_weather"]
        weather_too = {t.name: t for t in second.get_tools()}["get_weather"]
        with use_language("en"):
            await weather.ainvoke({"place": "Paris"})
            capped = await weather_too.ainvoke({"place": "Paris"})
        agents = [(r.provider, r.user_agent) for r in fake_open.requests]
        # The first toolkit read the answer and asked for the forecast; the second stopped at
        # its 1024-byte cap, with its own User-Agent.
        assert [a for p, a in agents if p == "open-meteo-geocoding"] == [
            "first-app/1.0", "second-app/2.0"]
        assert {a for p, a in agents if p == "open-meteo"} == {"first-app/1.0"}
        assert "1024" in capped and "GEO_MAX_RESPONSE_BYTES" in capped
        assert (first.http.timeout, second.http.timeout) == (10.0, 30.0)
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_toolkit_closes_only_its_own_client(fake_open: FakeOpenProviders) -> None:
    config = GeoConfig(provider="open")
    own = GeoToolkit(config=config)
    lent = GeoToolkit(config=config, http=own.http)
    await own.http.arun(_noop())  # start the client's loop
    await lent.aclose()
    assert own.http._loop is not None  # a client it was given stays open
    await own.aclose()
    assert own.http._loop is None


async def _noop() -> None:
    return None
