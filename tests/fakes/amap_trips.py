"""The fake AMap's answers for trip planning (issue 22): driving with ``waypoints`` and the
landmarks of the trip scenarios.

``/v3/direction/driving`` with ``waypoints`` (``lng,lat;lng,lat``, at most 16: more is AMap's
``INVALID_PARAMS`` 20000) answers, as documented (lbs.amap.com/api/webservice/guide/api/direction,
protocols.md section 9), ONE path from ``origin`` through the waypoints to ``destination``:
``route{origin, destination, paths[]{distance, duration, steps[]{instruction, road, distance,
duration, polyline}}}``; the path's steps run on from leg to leg with no marker between legs
(the provider cuts the line at the places). Without ``waypoints`` the plain answer is used.
``/v3/distance`` with several ``origins`` is ``amap_extra.distance_answer``. The places are real,
the coordinates (GCJ-02) rounded from AMap's web map; distances and times are invented.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

Answer = Callable[[dict[str, str]], dict[str, Any]]
MAX_WAYPOINTS = 16

# landmark -> (formatted_address, GCJ-02 location, district name, level), as amap.LANDMARKS
TRIP_LANDMARKS = {
    "景山公园": ("北京市西城区景山公园", "116.396942,39.925411", "东城区", "兴趣点"),
    "南锣鼓巷": ("北京市东城区南锣鼓巷", "116.403036,39.937183", "东城区", "兴趣点"),
    "798艺术区": ("北京市朝阳区798艺术区", "116.495105,39.984137", "朝阳区", "兴趣点"),
    "天坛公园": ("北京市东城区天坛公园", "116.410829,39.881913", "东城区", "兴趣点"),
    "颐和园": ("北京市海淀区颐和园", "116.275179,39.999617", "海淀区", "兴趣点"),
    "宽窄巷子": ("四川省成都市青羊区宽窄巷子", "104.053708,30.669648", "成都市", "兴趣点"),
}


def with_waypoints(plain: Answer) -> Answer:
    """``/v3/direction/driving``: ``plain`` per leg, joined into one path when ``waypoints``
    is given."""

    def answer(params: dict[str, str]) -> dict[str, Any]:
        via = [p for p in params.get("waypoints", "").split(";") if p]
        if not via:
            return plain(params)
        if len(via) > MAX_WAYPOINTS:
            return {"status": "0", "info": "INVALID_PARAMS", "infocode": "20000"}
        stops = [params["origin"], *via, params["destination"]]
        steps: list[dict[str, Any]] = []
        meters = seconds = 0
        for a, b in itertools.pairwise(stops):
            leg = plain({**params, "origin": a, "destination": b})
            if leg.get("status") != "1":
                return leg
            path = leg["route"]["paths"][0]
            steps += path["steps"]
            meters += int(path["distance"])
            seconds += int(path["duration"])
        route = {"origin": params["origin"], "destination": params["destination"],
                 "taxi_cost": str(round(13 + meters / 1000 * 2.3)),
                 "paths": [{"distance": str(meters), "duration": str(seconds),
                            "strategy": "速度最快", "tolls": "0", "toll_distance": "0",
                            "restriction": "0", "traffic_lights": str(4 * (len(stops) - 1)),
                            "steps": steps}]}
        return {"status": "1", "info": "OK", "infocode": "10000", "count": "1", "route": route}

    return answer
