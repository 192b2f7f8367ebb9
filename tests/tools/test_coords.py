"""WGS-84 <-> GCJ-02 conversion against published reference points."""

from __future__ import annotations

import pytest
from bailian_geo_agent.tools.coords import (
    Coordinate,
    gcj02_to_wgs84,
    haversine_m,
    out_of_china,
    parse_lnglat,
    wgs84_to_gcj02,
)
from hypothesis import given
from hypothesis import strategies as st

# (WGS-84 lng, lat) -> (GCJ-02 lng, lat): the test vectors published with googollee/eviltransform
# (transform_test.go; the same three pairs are in its PHP port larryli/eviltransform,
# tests/EvilTransformTest.php): Shanghai, Shenzhen, Beijing.
REFERENCE = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
]


@pytest.mark.parametrize(("wgs", "gcj"), REFERENCE)
def test_wgs84_to_gcj02_matches_reference(wgs, gcj):
    lng, lat = wgs84_to_gcj02(*wgs)
    assert lng == pytest.approx(gcj[0], abs=1e-9)
    assert lat == pytest.approx(gcj[1], abs=1e-9)


@pytest.mark.parametrize(("wgs", "gcj"), REFERENCE)
def test_gcj02_to_wgs84_within_a_centimetre(wgs, gcj):
    back = Coordinate(*gcj, "gcj02").to("wgs84")
    assert back.crs == "wgs84"
    assert haversine_m(back, Coordinate(*wgs, "wgs84")) < 0.01


def test_offset_is_a_few_hundred_metres_in_china():
    wgs = Coordinate(116.377817, 39.911954, "wgs84")
    assert 300 < haversine_m(wgs, Coordinate(*wgs84_to_gcj02(wgs.lng, wgs.lat), "wgs84")) < 700


@pytest.mark.parametrize("point", [(2.2945, 48.8584), (-74.0445, 40.6892), (139.7454, 35.6586)])
def test_outside_china_is_unchanged(point):
    assert out_of_china(*point)
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point


@given(st.floats(73.7, 134.7), st.floats(18.2, 53.5))
def test_round_trip_inside_china(lng, lat):
    g = wgs84_to_gcj02(lng, lat)
    w = gcj02_to_wgs84(*g)
    assert abs(w[0] - lng) < 1e-7 and abs(w[1] - lat) < 1e-7


def test_same_system_is_identity_and_dict_states_crs():
    p = Coordinate(116.4, 39.9, "gcj02")
    assert p.to("gcj02") is p
    assert p.as_dict() == {"lng": 116.4, "lat": 39.9, "crs": "gcj02"}
    assert p.lnglat() == "116.400000,39.900000"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("116.48,39.99", (116.48, 39.99)), ("116.48，39.99", (116.48, 39.99)), (" 1, 2 ", (1, 2))],
)
def test_parse_lnglat(text, expected):
    point = parse_lnglat(text, "wgs84")
    assert point is not None and (point.lng, point.lat) == expected and point.crs == "wgs84"


@pytest.mark.parametrize("text", ["故宫", "1,2,3", "200,10", "10,95", "nan,1", "a,b", ""])
def test_parse_lnglat_rejects(text):
    assert parse_lnglat(text) is None
