"""Places say where they are: same-named places stay distinguishable in the tool output."""

from __future__ import annotations

from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.places import format_place
from bailian_geo_agent.tools.providers.base import Place
from bailian_geo_agent.tools.providers.osm import Nominatim, Photon


def test_photon_berlins_keep_country_and_postcode() -> None:
    features = [
        {"geometry": {"coordinates": [13.3889, 52.5170]},
         "properties": {"name": "Berlin", "state": "Berlin", "country": "Germany",
                        "postcode": "10117", "type": "city"}},
        {"geometry": {"coordinates": [61.1986, 54.0038]},
         "properties": {"name": "Berlin", "state": "Chelyabinsk Oblast", "country": "Russia",
                        "type": "village"}},
    ]
    lines = [format_place(i + 1, Photon.place(f)) for i, f in enumerate(features)]
    assert lines[0].startswith("1. Berlin；") and "Germany" in lines[0] and "邮编10117" in lines[0]
    assert "Russia" in lines[1] and "Chelyabinsk Oblast" in lines[1] and "邮编" not in lines[1]
    assert lines[0].split("；", 1)[1] != lines[1].split("；", 1)[1]


def test_nominatim_keeps_country_and_postcode() -> None:
    place = Nominatim._place({
        "name": "Berlin", "lat": "52.5170", "lon": "13.3889", "addresstype": "city",
        "display_name": "Berlin, 10117, Deutschland",
        "address": {"city": "Berlin", "state": "Berlin", "postcode": "10117",
                    "country": "Deutschland", "country_code": "de"}})
    assert (place.country, place.postcode) == ("Deutschland", "10117")


def test_two_chaoyang_districts_are_told_apart() -> None:
    beijing = Place(name="朝阳区", district="北京市朝阳区", country="中国",
                    location=Coordinate(116.443, 39.921, "gcj02"))
    changchun = Place(name="朝阳区", province="吉林省", city="长春市", district="朝阳区",
                      country="中国", location=Coordinate(125.288, 43.833, "gcj02"))
    lines = [format_place(1, beijing), format_place(2, changchun)]
    assert "北京市朝阳区" in lines[0] and "吉林省长春市朝阳区" in lines[1]
    assert all("中国" in line for line in lines)
