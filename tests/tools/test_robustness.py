"""No argument, however malformed, crashes a tool; keys never reach output or logs."""

from __future__ import annotations

import logging

import pytest
from bailian_geo_agent.tools import GeoToolkit
from bailian_geo_agent.tools.config import GeoConfig
from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.errors import NotFoundError
from bailian_geo_agent.tools.http import HttpClient
from bailian_geo_agent.tools.providers.amap import AmapProvider
from bailian_geo_agent.tools.providers.base import GeoProvider, Place
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import ToolMessage

from tests.fakes.amap import FakeAmap
from tests.tools.conftest import FAKE_AMAP_KEY


class StubProvider:
    """A minimal provider: every place is at the same point; searches find nothing."""

    name = "stub"
    crs = "gcj02"

    async def weather(self, place, location, days):
        raise NotFoundError("no weather")

    async def search_poi(self, keywords, city, category, limit):
        raise NotFoundError("no poi")

    async def nearby_poi(self, center, keywords, category, radius_m, limit):
        raise NotFoundError("no poi")

    async def suggest(self, query, city, limit):
        raise NotFoundError("no tips")

    async def geocode(self, address, city):
        return [Place(name=address, location=Coordinate(116.4, 39.9))]

    async def reverse_geocode(self, location):
        raise NotFoundError("no address")

    async def route(self, origin, destination, mode):
        raise NotFoundError("no route")

    async def aclose(self):
        return None


STUB_TOOLS = GeoToolkit(config=GeoConfig(), provider=StubProvider(), http=HttpClient()).get_tools()

values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.lists(st.dictionaries(st.sampled_from(["lng", "lat", "place", "label"]),
                             st.one_of(st.floats(-200, 200), st.text(max_size=5)),
                             max_size=4), max_size=3),
)
field_names = st.sampled_from(
    ["place", "lng", "lat", "crs", "days", "keywords", "city", "near", "radius", "category",
     "limit", "text", "address", "origin", "destination", "mode", "zoom", "markers", "path",
     "points", "padding", "target", "unexpected"]
)


def test_stub_is_a_provider():
    assert isinstance(StubProvider(), GeoProvider)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(STUB_TOOLS) - 1),
       args=st.dictionaries(field_names, values, max_size=5))
def test_any_arguments_give_a_tool_message(index, args):
    tool = STUB_TOOLS[index]
    message = tool.invoke({"type": "tool_call", "id": "x", "name": tool.name, "args": args})
    assert isinstance(message, ToolMessage) and isinstance(message.content, str)
    assert len(message.content) < 4000
    if message.status == "error":
        assert message.artifact is None
    elif tool.name.startswith("map_"):
        assert message.artifact["map_action"]["op"].startswith(tool.name.removeprefix("map_")[:3])
    else:  # a lookup (geocode finds the stub's place): its typed data, maybe links
        tool.output_model.model_validate(message.artifact["data"])


def test_keys_stay_out_of_logs_and_results(
    fake_amap: FakeAmap, http_client: HttpClient, caplog
):
    caplog.set_level(logging.DEBUG)
    provider = AmapProvider(FAKE_AMAP_KEY, http_client, base_url=fake_amap.base_url,
                            rate_limit_delay=0.0)
    tools = {t.name: t for t in GeoToolkit(config=GeoConfig(), provider=provider).get_tools()}
    outputs = [tools["get_weather"].invoke({"place": "海淀"})]
    for code in ("10001", "10003", "10021", "20000"):
        fake_amap.set_error(None, code)
        outputs.append(tools["geocode"].invoke({"address": "故宫"}))
    fake_amap.reset()
    fake_amap.set_response("/v3/geocode/geo", {"x": 1}, status=500)
    outputs.append(tools["geocode"].invoke({"address": "天安门"}))
    assert any("HTTP 500" in o for o in outputs)
    assert all(FAKE_AMAP_KEY not in o for o in outputs)
    assert "key=***" in caplog.text  # httpx logs each URL at INFO: redacted
    assert FAKE_AMAP_KEY not in caplog.text


async def test_resolve_point_when_the_geocoder_answers_nothing_or_no_point():
    # an empty answer, or places without a point, is "not located" (it was an IndexError,
    # shown as an unreadable result); the first place with a point is taken
    from bailian_geo_agent.tools.common import resolve_point

    class Geocoder:
        crs = "gcj02"

        def __init__(self, places):
            self.places = places

        async def geocode(self, address, city):
            return self.places

    for places in ([], [Place(name="x", location=None)]):
        with pytest.raises(NotFoundError):
            await resolve_point(Geocoder(places), place="x", lng=None, lat=None, crs="gcj02")
    point = Coordinate(116.4, 39.9, "gcj02")
    found = await resolve_point(Geocoder([Place(name="a", location=None),
                                          Place(name="b", location=point)]),
                                place="b", lng=None, lat=None, crs="gcj02")
    assert found == (point, "b")
