"""The fake AMap's answers for the area and along-the-route tools (issue 22).

Shapes follow the AMap Web Service docs (lbs.amap.com/api/webservice/guide/api/district,
.../search): ``/v3/config/district`` with ``extensions=all`` adds ``polyline`` to each district,
its rings split by ``|``, each ring ``lng,lat;lng,lat;...`` (GCJ-02), without saying which ring
is a hole; ``/v3/place/around`` as in ``amap.py``. The outlines here are invented (no recorded
real district body with ``polyline`` was found in public docs or issues): 朝阳区 is one ring of
3,000 vertices (more than a map command holds), 东城区 two separate rings, the first with a
hole. The gas stations lie along the fake driving route 北京南站 -> 故宫 (a north leg, then an
east leg).
"""

from __future__ import annotations

import math
from typing import Any


def _ring(points: list[tuple[float, float]]) -> str:
    closed = [*points, points[0]]
    return ";".join(f"{lng:.6f},{lat:.6f}" for lng, lat in closed)


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int) -> list[tuple[float, float]]:
    points = []
    for i in range(n):
        t = 2 * math.pi * i / n
        wobble = 1 + 0.01 * math.sin(37 * t)  # a border is never smooth
        points.append((cx + rx * wobble * math.cos(t), cy + ry * wobble * math.sin(t)))
    return points


def _box(w: float, s: float, e: float, n: float) -> list[tuple[float, float]]:
    return [(w, s), (e, s), (e, n), (w, n)]


DISTRICT_POLYLINES = {
    # contains 阜通东大街6号 (116.482086,39.990496); 故宫 (116.397026,39.918058) is west of it
    "朝阳区": _ring(_ellipse(116.52, 39.95, 0.09, 0.13, 3000)),
    # part 1 with a hole around (116.41, 39.93); part 2 a separate block to the east
    "东城区": "|".join([_ring(_box(116.38, 39.86, 116.44, 39.96)),
                       _ring(_box(116.405, 39.925, 116.415, 39.935)),
                       _ring(_box(116.45, 39.90, 116.46, 39.91))]),
}

ALONG_POIS = [
    {"id": "B000A1GAS1", "name": "中国石化(开阳路加油站)", "location": "116.379700,39.880000",
     "type": "汽车服务;加油站;中国石化", "address": "开阳路12号"},
    {"id": "B000A1GAS2", "name": "中国石油(右安门加油站)", "location": "116.374000,39.895000",
     "type": "汽车服务;加油站;中国石油", "address": "右安门外大街"},
    {"id": "B000A1GAS3", "name": "壳牌(西华门加油站)", "location": "116.388000,39.919500",
     "type": "汽车服务;加油站;壳牌", "address": "西华门大街"},
    {"id": "B000A1GAS4", "name": "中国石化(丰台加油站)", "location": "116.350000,39.870000",
     "type": "汽车服务;加油站;中国石化", "address": "丰台路"},
]


def _meters(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[1]), math.radians(b[1])
    dp, dl = p2 - p1, math.radians(b[0] - a[0])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(h)))


def _point(text: str) -> tuple[float, float]:
    lng, lat = text.split(",")
    return float(lng), float(lat)


def along_around_answer(params: dict[str, str]) -> dict[str, Any]:
    """``/v3/place/around`` over the gas stations: those within ``radius`` of ``location``
    whose type or name holds ``keywords``, nearest first."""
    center = _point(params["location"])
    radius = float(params.get("radius", "3000"))
    keyword = params.get("keywords", "")
    found = []
    for poi in ALONG_POIS:
        meters = _meters(center, _point(poi["location"]))
        if meters <= radius and (not keyword or keyword in poi["type"] + poi["name"]):
            found.append((meters, poi))
    found.sort(key=lambda item: item[0])
    pois = [{**poi, "parent": [], "typecode": "010100", "biz_type": [], "tel": [],
             "distance": str(round(meters)), "pname": "北京市", "cityname": "北京市",
             "adname": "西城区", "adcode": "110102", "biz_ext": [], "photos": []}
            for meters, poi in found]
    return {"status": "1", "info": "OK", "infocode": "10000", "count": str(len(pois)),
            "suggestion": {"keywords": [], "cities": []}, "pois": pois}
