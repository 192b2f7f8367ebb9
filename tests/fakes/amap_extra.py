"""The fake AMap's answers for the endpoints behind the optional tools (issue 14).

Shapes follow the AMap Web Service docs (lbs.amap.com/api/webservice/guide/api/{direction,
ipconfig,search}) and what the official ``@amap/amap-maps-mcp-server`` reads from them:

- ``/v3/distance`` -> ``results[]{origin_id, dest_id, distance, duration}`` (ids 1-based strings;
  ``type`` 0 straight line: ``duration`` "0"; ``type`` 3 walking measures only pairs up to 5 km
  apart, as the docs say: "3：步行规划距离（仅支持5km之间的距离）").
- ``/v5/direction/bicycling`` -> ``route{origin, destination, paths[]{distance, duration,
  steps[]{instruction, orientation, road_name, step_distance, cost{duration}, polyline}}}``.
- ``/v3/direction/transit/integrated`` -> ``route{origin, destination, distance, taxi_cost,
  transits[]{cost, duration, nightflag, walking_distance, distance, segments[]{walking, bus,
  entrance, exit, railway}}}``; empty parts are ``[]``.
- ``/v3/ip`` -> ``province, city, adcode, rectangle`` ("lng,lat;lng,lat"); ``[]`` for foreign or
  unknown addresses.
- ``/v3/place/detail`` -> ``pois[]`` as ``/v3/place/text`` plus ``business_area``, ``alias``,
  ``photos[]{title, url}``, ``biz_ext{rating, cost, open_time}``.

*Unverified* (kept tolerant in the code): the per-result ``info``/``code`` of a distance pair
without a route; the v5 step fields ``road_name``/``step_distance``/``cost.duration`` and the
``polyline`` step field as a plain string (``show_fields=cost,polyline``); ``biz_ext.open_time``
on ``/v3/place/detail``. The data (lines, stops, fares, IP ranges) is invented.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

Answer = Callable[[dict[str, str]], dict[str, Any]]

IPS = {
    "114.247.50.2": (
        "北京市", "北京市", "110000", "116.0119343,39.66127144;116.7829835,40.2164962"
    ),
    "202.96.209.133": (
        "上海市", "上海市", "310000", "120.8397067,30.7578743;122.1178075,31.6537699"
    ),
}

DETAILS = {
    "B0FFG3MGDB": {
        "id": "B0FFG3MGDB", "parent": [], "name": "星巴克(国贸商城店)",
        "type": "餐饮服务;咖啡厅;星巴克咖啡", "typecode": "050501", "biz_type": "diner",
        "address": "建国门外大街1号国贸商城B1层", "location": "116.458795,39.909398",
        "tel": "010-65059526", "pname": "北京市", "cityname": "北京市", "adname": "朝阳区",
        "adcode": "110105", "business_area": "国贸", "alias": [], "website": [], "email": [],
        "biz_ext": {"rating": "4.6", "cost": "38.00", "open_time": "07:00-22:00"},
        "photos": [{"title": [], "url": "http://store.is.autonavi.com/showpic/starbucks-guomao"}],
    },
    "B0H2XQ9K3L": {
        "id": "B0H2XQ9K3L", "parent": [], "name": "Manner Coffee(国贸店)",
        "type": "餐饮服务;咖啡厅;咖啡厅", "typecode": "050500", "biz_type": [],
        "address": [], "location": "116.460311,39.910155", "tel": [], "pname": "北京市",
        "cityname": "北京市", "adname": "朝阳区", "adcode": "110105", "business_area": [],
        "alias": [], "website": [], "email": [], "biz_ext": {"rating": [], "cost": []},
        "photos": [],
    },
}


def _ok(**fields: Any) -> dict[str, Any]:
    return {"status": "1", "info": "OK", "infocode": "10000", **fields}


def _point(text: str) -> tuple[float, float]:
    lng, lat = text.split(",")
    return float(lng), float(lat)


def _meters(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[1]), math.radians(b[1])
    dp, dl = p2 - p1, math.radians(b[0] - a[0])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(h)))


def _fmt(p: tuple[float, float]) -> str:
    return f"{p[0]:.6f},{p[1]:.6f}"


WALKING_LIMIT_M = 5000
"""``type`` 3 (walking) measures pairs up to 5 km apart (AMap's distance API docs)."""


def distance_answer(params: dict[str, str]) -> dict[str, Any]:
    """``/v3/distance``: road distance 1.3x (driving) / 1.2x (walking) the straight line."""
    end = _point(params["destination"])
    kind = params.get("type", "1")
    factor, speed = {"0": (1.0, None), "1": (1.3, 8.3), "3": (1.2, 1.2)}.get(kind, (1.3, 8.3))
    results = []
    for i, origin in enumerate(params["origins"].split("|"), 1):
        meters = _meters(_point(origin), end) * factor
        if kind == "3" and meters > WALKING_LIMIT_M:
            results.append({"origin_id": str(i), "dest_id": "1", "info": "未规划出步行路线",
                            "code": "3"})  # unverified shape of a pair without a route
            continue
        duration = "0" if speed is None else str(round(meters / speed))
        results.append({"origin_id": str(i), "dest_id": "1", "distance": str(round(meters)),
                        "duration": duration})
    return _ok(count=str(len(results)), results=results)


def bicycling_answer(params: dict[str, str]) -> dict[str, Any]:
    """``/v5/direction/bicycling``: two steps via the corner point, 4.2 m/s."""
    a, b = _point(params["origin"]), _point(params["destination"])
    mid = (b[0], a[1])
    d1, d2 = _meters(a, mid) * 1.15, _meters(mid, b) * 1.15
    if d1 + d2 > 500000:
        return {"status": "0", "info": "OVER_DIRECTION_RANGE", "infocode": "20803"}

    def step(text: str, road: Any, start: tuple, end: tuple, dist: float) -> dict[str, Any]:
        return {"instruction": text, "orientation": "东", "road_name": road,
                "step_distance": str(round(dist)), "cost": {"duration": str(round(dist / 4.2))},
                "polyline": ";".join(_fmt(p) for p in (start, end))}

    steps = [step("骑行向东到达路口左转", "前门东大街", a, mid, d1),
             step("骑行向北到达目的地", [], mid, b, d2)]
    total = d1 + d2
    path = {"distance": str(round(total)), "duration": str(round(total / 4.2)), "steps": steps}
    return _ok(count="1", route={"origin": params["origin"], "destination": params["destination"],
                                 "paths": [path]})


def _walk(origin: str, destination: str, meters: float) -> dict[str, Any]:
    return {"origin": origin, "destination": destination, "distance": str(round(meters)),
            "duration": str(round(meters / 1.2)),
            "steps": [{"instruction": f"步行{round(meters)}米", "road": [],
                       "distance": str(round(meters)), "duration": str(round(meters / 1.2)),
                       "polyline": f"{origin};{destination}", "action": [],
                       "assistant_action": "到达"}]}


def transit_answer(params: dict[str, str]) -> dict[str, Any]:
    """``/v3/direction/transit/integrated``: a metro plan in one city, a train across cities."""
    origin, destination = params["origin"], params["destination"]
    total = _meters(_point(origin), _point(destination)) * 1.25
    cross = bool(params.get("cityd")) and params.get("cityd") != params.get("city")
    empty: dict[str, Any] = {"buslines": []}
    if cross:
        railway = {"id": "240000G1010J", "time": str(round(total / 80)), "name": "京沪高速线",
                   "trip": "G101", "distance": str(round(total)), "type": "G字头的高铁火车",
                   "departure_stop": {"id": "BJP", "name": "北京南", "location": origin,
                                      "adcode": "110106", "time": "0636", "start": "1"},
                   "arrival_stop": {"id": "AOH", "name": "上海虹桥", "location": destination,
                                    "adcode": "310112", "time": "1211", "end": "1"},
                   "via_stops": [], "alters": [], "spaces": [{"code": "O", "cost": "553.0"}]}
        segment = {"taxi": [], "walking": [], "bus": empty, "entrance": [], "exit": [],
                   "railway": railway}
        transit = {"cost": "553.0", "duration": str(round(total / 80) + 600), "nightflag": "0",
                   "walking_distance": "0", "distance": str(round(total)), "missed": "0",
                   "segments": [segment]}
        return _ok(count="1", route={"origin": origin, "destination": destination,
                                     "distance": str(round(total)), "taxi_cost": [],
                                     "transits": [transit]})
    subway = {"departure_stop": {"name": "北京南站", "id": "110100023098016",
                                 "location": "116.378907,39.865472"},
              "arrival_stop": {"name": "西单", "id": "110100023098023",
                               "location": "116.374072,39.907383"},
              "name": "地铁4号线大兴线(天宫院--安河桥北)", "id": "110100023098", "type": "地铁线路",
              "distance": str(round(total * 0.8)), "duration": str(round(total * 0.8 / 10)),
              "polyline": f"{origin};{destination}", "start_time": "0500", "end_time": "2250",
              "via_num": "4", "via_stops": [{"name": n, "id": str(i), "location": origin}
                                            for i, n in enumerate(["陶然亭", "菜市口", "宣武门",
                                                                    "西单"][:3])]}
    first = {"taxi": [], "walking": _walk(origin, "116.378907,39.865472", 320),
             "bus": {"buslines": [subway]}, "entrance": {"name": "C口", "location": origin},
             "exit": {"name": "F2口", "location": destination}, "railway": {"spaces": []}}
    last = {"taxi": [], "walking": _walk("116.374072,39.907383", destination, 680),
            "bus": empty, "entrance": [], "exit": [], "railway": {"spaces": []}}
    bus_line = copy.deepcopy(subway) | {"name": "特2路(北京南站--东直门外)", "type": "普通公交线路",
                                       "via_num": "9"}
    plans = [
        {"cost": "4.0", "duration": str(round(total * 0.8 / 10 + 850)), "nightflag": "0",
         "walking_distance": "1000", "distance": str(round(total)), "missed": "0",
         "segments": [first, last]},
        {"cost": "2.0", "duration": str(round(total / 5 + 600)), "nightflag": "0",
         "walking_distance": "540", "distance": str(round(total)), "missed": "0",
         "segments": [{**first, "bus": {"buslines": [bus_line]}}, last]},
    ]
    return _ok(count=str(len(plans)), route={"origin": origin, "destination": destination,
                                             "distance": str(round(total)),
                                             "taxi_cost": str(round(13 + total / 1000 * 2.3)),
                                             "transits": plans})


def ip_answer(params: dict[str, str]) -> dict[str, Any]:
    """``/v3/ip``: the known ranges, else ``[]`` everywhere (as AMap answers abroad)."""
    hit = IPS.get(params.get("ip", ""))
    if hit is None:
        return _ok(province=[], city=[], adcode=[], rectangle=[])
    province, city, adcode, rectangle = hit
    return _ok(province=province, city=city, adcode=adcode, rectangle=rectangle)


def detail_answer(params: dict[str, str]) -> dict[str, Any]:
    """``/v3/place/detail``."""
    poi = DETAILS.get(params.get("id", ""))
    pois = [copy.deepcopy(poi)] if poi else []
    return _ok(count=str(len(pois)), pois=pois)


EXTRA_DEFAULTS: dict[str, Answer] = {
    "/v3/distance": distance_answer,
    "/v5/direction/bicycling": bicycling_answer,
    "/v3/direction/transit/integrated": transit_answer,
    "/v3/ip": ip_answer,
    "/v3/place/detail": detail_answer,
}

EXTRA_REQUIRED = {
    "/v3/distance": ("origins", "destination"),
    "/v5/direction/bicycling": ("origin", "destination"),
    "/v3/direction/transit/integrated": ("origin", "destination", "city"),
    "/v3/place/detail": ("id",),
}
