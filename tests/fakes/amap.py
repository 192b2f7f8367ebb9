"""Loopback fake of the AMap (Gaode) Web Service API, for tests and cassette recording.

It speaks the documented wire format (protocols.md section 3; lbs.amap.com/api/webservice/guide):
every value is a string, empty fields are ``[]``, ``status`` "1"/"0" with ``info``/``infocode``,
coordinates are GCJ-02 ``"lng,lat"`` strings. Default answers come from a small Beijing/Shanghai/
Hangzhou data set; tests replace them per endpoint.

API::

    server = FakeAmap(api_key="test-amap-key").start()   # or the ``fake_amap`` fixture
    server.base_url                                        # http://127.0.0.1:<port>
    server.set_response("/v3/weather/weatherInfo", {...})  # persistent body (dict or callable)
    server.queue_response("/v3/place/text", body)          # served once, before the rest
    server.set_error("/v3/place/text", "10003")            # AMap error answer (path None: all)
    server.requests / server.requests_to("/v3/place/text") # RecordedRequest(path, params)
    server.reset(); server.stop()
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.amap_areas import DISTRICT_POLYLINES
from tests.fakes.amap_extra import EXTRA_DEFAULTS, EXTRA_REQUIRED
from tests.fakes.amap_trips import TRIP_LANDMARKS, with_waypoints
from tests.fakes.loopback import LoopbackServer

Body = dict[str, Any] | bytes | Callable[[dict[str, str]], dict[str, Any] | bytes]

ERROR_INFO = {
    "10001": "INVALID_USER_KEY",
    "10002": "SERVICE_NOT_AVAILABLE",
    "10003": "DAILY_QUERY_OVER_LIMIT",
    "10004": "ACCESS_TOO_FREQUENT",
    "10005": "INVALID_USER_IP",
    "10009": "USERKEY_PLAT_NOMATCH",
    "10021": "CUQPS_HAS_EXCEEDED_THE_LIMIT",
    "10044": "USER_DAILY_QUERY_OVER_LIMIT",
    "20000": "INVALID_PARAMS",
    "20001": "MISSING_REQUIRED_PARAMS",
    "20003": "UNKNOWN_ERROR",
    "20800": "OUT_OF_SERVICE",
    "20803": "OVER_DIRECTION_RANGE",
}

REQUIRED = {
    "/v3/weather/weatherInfo": ("city",),
    "/v3/place/around": ("location",),
    "/v3/assistant/inputtips": ("keywords",),
    "/v3/geocode/geo": ("address",),
    "/v3/geocode/regeo": ("location",),
    "/v3/direction/driving": ("origin", "destination"),
    "/v3/direction/walking": ("origin", "destination"),
    **EXTRA_REQUIRED,
}

# name -> (adcode, citycode, GCJ-02 center, level, province, city, district)
DISTRICTS: dict[str, tuple[str, Any, str, str, str, Any, Any]] = {
    "北京市": ("110000", "010", "116.407387,39.904179", "province", "北京市", [], []),
    "海淀区": ("110108", "010", "116.298262,39.959912", "district", "北京市", "北京市", "海淀区"),
    "朝阳区": ("110105", "010", "116.443136,39.921444", "district", "北京市", "北京市", "朝阳区"),
    "东城区": ("110101", "010", "116.416357,39.928353", "district", "北京市", "北京市", "东城区"),
    "上海市": ("310000", "021", "121.473667,31.230525", "province", "上海市", [], []),
    "杭州市": ("330100", "0571", "120.209903,30.246566", "city", "浙江省", "杭州市", []),
    "西湖区": ("330106", "0571", "120.130396,30.259242", "district", "浙江省", "杭州市", "西湖区"),
    "成都市": ("510100", "028", "104.066301,30.572961", "city", "四川省", "成都市", []),
}
ALIASES = {"北京": "北京市", "海淀": "海淀区", "上海": "上海市", "杭州": "杭州市", "成都": "成都市"}

# landmark -> (formatted_address, GCJ-02 location, district name, level)
LANDMARKS = {
    "故宫": ("北京市东城区故宫博物院", "116.397026,39.918058", "东城区", "兴趣点"),
    "天安门": ("北京市东城区天安门", "116.397755,39.908743", "东城区", "兴趣点"),
    "北京南站": ("北京市丰台区北京南站", "116.378517,39.865246", "朝阳区", "兴趣点"),
    "北京市朝阳区阜通东大街6号": (
        "北京市朝阳区阜通东大街6号", "116.482086,39.990496", "朝阳区", "门牌号"
    ),
    "西湖": ("浙江省杭州市西湖区西湖", "120.141373,30.245098", "西湖区", "兴趣点"),
    **TRIP_LANDMARKS,
}

TOTAL_MATCHES = "37"  # /v3/place/* count: every match, more than one page holds
POIS = [
    {
        "id": "B0FFG3MGDB", "parent": [], "name": "星巴克(国贸商城店)",
        "type": "餐饮服务;咖啡厅;星巴克咖啡", "typecode": "050501", "biz_type": "diner",
        "address": "建国门外大街1号国贸商城B1层", "location": "116.458795,39.909398",
        "tel": "010-65059526", "distance": "120", "pname": "北京市", "cityname": "北京市",
        "adname": "朝阳区", "adcode": "110105", "biz_ext": {"rating": "4.6", "cost": "38.00"},
        "photos": [],
    },
    {
        "id": "B0H2XQ9K3L", "parent": [], "name": "Manner Coffee(国贸店)",
        "type": "餐饮服务;咖啡厅;咖啡厅", "typecode": "050500", "biz_type": [],
        "address": [], "location": "116.460311,39.910155", "tel": [], "distance": "265",
        "pname": "北京市", "cityname": "北京市", "adname": "朝阳区", "adcode": "110105",
        "biz_ext": [], "photos": [],  # real captures: an empty biz_ext is [] too
    },
    {
        "id": "B000A7O1CU", "parent": [], "name": "瑞幸咖啡(中国国际贸易中心店)",
        "type": "餐饮服务;咖啡厅;咖啡厅", "typecode": "050500", "biz_type": [],
        "address": "建国门外大街1号国贸写字楼1座1层", "location": "116.457612,39.908871",
        "tel": "010-85678912;4000100100", "distance": "310", "pname": "北京市",
        "cityname": "北京市", "adname": "朝阳区", "adcode": "110105",
        "biz_ext": {"rating": "4.2", "cost": []}, "photos": [],
    },
]


@dataclass
class RecordedRequest:
    """One request the fake received: path, query/form parameters (last value wins)."""

    path: str
    params: dict[str, str]
    method: str = "GET"


@dataclass
class _Rule:
    body: Body
    status: int = 200
    delay: float = 0.0


@dataclass
class _State:
    persistent: dict[str, _Rule] = field(default_factory=dict)
    queued: dict[str, deque[_Rule]] = field(default_factory=dict)
    errors: dict[str | None, tuple[str, int | None]] = field(default_factory=dict)


def ok(**fields: Any) -> dict[str, Any]:
    """A success envelope with ``fields``."""
    return {"status": "1", "info": "OK", "infocode": "10000", **fields}


def error_body(infocode: str) -> dict[str, Any]:
    """AMap's error envelope for ``infocode``."""
    return {"status": "0", "info": ERROR_INFO.get(infocode, "UNKNOWN_ERROR"), "infocode": infocode}


def _district(name: str) -> tuple[str, tuple] | None:
    key = ALIASES.get(name, name)
    if key in DISTRICTS:
        return key, DISTRICTS[key]
    for full, row in DISTRICTS.items():
        if row[0] == name:
            return full, row
    return None


def _lnglat(text: str) -> tuple[float, float]:
    lng, lat = text.split(",")
    return float(lng), float(lat)


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[1]), math.radians(b[1])
    dp, dl = p2 - p1, math.radians(b[0] - a[0])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(h)))


def district_answer(params: dict[str, str]) -> dict[str, Any]:
    """``/v3/config/district``."""
    found = _district(params.get("keywords", "").strip())
    if found is None:
        return ok(count="0", suggestion={"keywords": [], "cities": []}, districts=[])
    name, (adcode, citycode, center, level, *_rest) = found
    item = {"citycode": citycode, "adcode": adcode, "name": name, "center": center,
            "level": level, "districts": []}
    if params.get("extensions") == "all" and name in DISTRICT_POLYLINES:  # boundaries
        item["polyline"] = DISTRICT_POLYLINES[name]
    return ok(count="1", suggestion={"keywords": [], "cities": []}, districts=[item])


def geocode_answer(params: dict[str, str]) -> dict[str, Any]:
    """``/v3/geocode/geo``."""
    address = params.get("address", "").strip()
    if address in LANDMARKS:
        formatted, loc, district, level = LANDMARKS[address]
        _, row = _district(district) or ("", DISTRICTS["北京市"])
    else:
        found = _district(address)
        if found is None:
            return ok(count="0", geocodes=[])
        formatted, row = found[0], found[1]
        loc, level = row[2], row[3]
    adcode, citycode, _center, _lvl, province, city, dist = row
    item = {"formatted_address": formatted, "country": "中国", "province": province,
            "citycode": citycode, "city": city or province, "district": dist, "township": [],
            "neighborhood": {"name": [], "type": []}, "building": {"name": [], "type": []},
            "adcode": adcode, "street": [], "number": [], "location": loc, "level": level}
    return ok(count="1", geocodes=[item])


def regeo_answer(params: dict[str, str]) -> dict[str, Any]:
    """``/v3/geocode/regeo`` (outside China: empty address, as AMap does)."""
    lng, lat = _lnglat(params["location"])
    if not (73.0 <= lng <= 135.1 and 3.8 <= lat <= 53.6):
        comp = {"country": [], "province": [], "city": [], "citycode": [], "district": [],
                "adcode": [], "township": [], "towncode": []}
        return ok(regeocode={"formatted_address": [], "addressComponent": comp})
    comp = {"country": "中国", "province": "北京市", "city": [], "citycode": "010",
            "district": "朝阳区", "adcode": "110105", "township": "望京街道",
            "towncode": "110105026000", "neighborhood": {"name": [], "type": []},
            "building": {"name": [], "type": []},
            "streetNumber": {"street": "阜通东大街", "number": "6号",
                             "location": params["location"], "direction": "西南",
                             "distance": "52.3"},
            "businessAreas": [[]]}
    return ok(regeocode={"formatted_address": "北京市朝阳区望京街道方恒国际中心B座",
                         "addressComponent": comp})


def weather_answer(params: dict[str, str]) -> dict[str, Any]:
    """``/v3/weather/weatherInfo`` (base: lives; all: 4-day forecasts)."""
    found = _district(params.get("city", "").strip())
    extensions = params.get("extensions", "base")
    if found is None:
        if extensions == "all":
            return ok(count="0", forecasts=[])
        # Real captures: an unknown city's live weather is ``lives: [[]]`` with count "1".
        return ok(count="1", lives=[[]])
    name, (adcode, _c, _ce, _l, province, *_r) = found
    if extensions != "all":
        live = {"province": province.removesuffix("市").removesuffix("省"), "city": name,
                "adcode": adcode, "weather": "晴", "temperature": "26", "winddirection": "南",
                "windpower": "≤3", "humidity": "35", "reporttime": "2025-05-20 14:00:00",
                "temperature_float": "26.0", "humidity_float": "35.0"}
        return ok(count="1", lives=[live])
    days = [("2025-05-20", "2", "晴", "多云", "29", "16"),
            ("2025-05-21", "3", "多云", "阴", "27", "17"),
            ("2025-05-22", "4", "小雨", "小雨", "22", "15"),
            ("2025-05-23", "5", "阴", "晴", "25", "14")]
    casts = [{"date": d, "week": w, "dayweather": dw, "nightweather": nw, "daytemp": hi,
              "nighttemp": lo, "daywind": "南", "nightwind": "南", "daypower": "1-3",
              "nightpower": "1-3", "daytemp_float": f"{hi}.0", "nighttemp_float": f"{lo}.0"}
             for d, w, dw, nw, hi, lo in days]
    forecast = {"city": name, "adcode": adcode, "province": province.removesuffix("市"),
                "reporttime": "2025-05-20 11:02:37", "casts": casts}
    return ok(count="1", forecasts=[forecast])


def poi_text_answer(params: dict[str, str]) -> dict[str, Any]:
    """``/v3/place/text``: the canned cafés (no distance: keyword search has none)."""
    limit = int(params.get("offset", "20") or 20)
    pois = [{**copy.deepcopy(p), "distance": []} for p in POIS][:limit]
    # ``count`` is the total number of matches, not the size of this page.
    return ok(count=TOTAL_MATCHES, suggestion={"keywords": [], "cities": []}, pois=pois)


def poi_around_answer(params: dict[str, str]) -> dict[str, Any]:
    """``/v3/place/around``: the canned cafés, with distances."""
    limit = int(params.get("offset", "20") or 20)
    pois = copy.deepcopy(POIS)[:limit]
    return ok(count=TOTAL_MATCHES, suggestion={"keywords": [], "cities": []}, pois=pois)


def inputtips_answer(params: dict[str, str]) -> dict[str, Any]:
    """``/v3/assistant/inputtips``: one place tip, one bus-line tip, one keyword-only tip."""
    text = params.get("keywords", "")
    tips = [
        {"id": "B000A83M61", "name": f"{text}站", "district": "北京市丰台区", "adcode": "110106",
         "location": "116.321592,39.894793", "address": "莲花池东路118号", "typecode": "150200"},
        {"id": "BV10001595", "name": f"{text}(地铁9号线)", "district": "北京市",
         "adcode": "110000", "location": [], "address": [], "typecode": "150500"},
        {"id": [], "name": f"{text}南广场", "district": [], "adcode": [], "location": [],
         "address": [], "typecode": []},
    ]
    return ok(count=str(len(tips)), tips=tips)


def direction_answer(mode: str) -> Callable[[dict[str, str]], dict[str, Any]]:
    """``/v3/direction/driving|walking``: a 3-step path between the two points."""

    def answer(params: dict[str, str]) -> dict[str, Any]:
        a, b = _lnglat(params["origin"]), _lnglat(params["destination"])
        mid = (a[0], b[1])
        leg1, leg2 = _distance(a, mid) * 1.1, _distance(mid, b) * 1.1
        speed = 8.3 if mode == "driving" else 1.2
        total = leg1 + leg2
        if mode == "walking" and total > 100000:
            return error_body("20803")

        def fmt(p: tuple[float, float]) -> str:
            return f"{p[0]:.6f},{p[1]:.6f}"

        def step(text: str, road: Any, start: tuple, end: tuple, dist: float) -> dict:
            middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
            return {"instruction": text, "orientation": "北", "road": road,
                    "distance": str(round(dist)), "duration": str(round(dist / speed)),
                    "polyline": ";".join(fmt(p) for p in (start, middle, end)),
                    "action": "右转", "assistant_action": []}

        steps = [step("沿辅路向北行驶到达路口右转", "建国路", a, mid, leg1 / 2),
                 step("沿主路向东行驶", "长安街", mid, mid, 0) | {"polyline": fmt(mid)},
                 step("继续行驶到达目的地", [], mid, b, leg2 + leg1 / 2)]
        path = {"distance": str(round(total)), "duration": str(round(total / speed)),
                "steps": steps}
        if mode == "driving":
            path |= {"strategy": "速度最快", "tolls": "0", "toll_distance": "0",
                     "restriction": "0", "traffic_lights": "4"}
        route = {"origin": params["origin"], "destination": params["destination"],
                 "paths": [path]}
        if mode == "driving":
            route["taxi_cost"] = str(round(13 + total / 1000 * 2.3))
        return ok(count="1", route=route)

    return answer


DEFAULTS: dict[str, Body] = {
    "/v3/config/district": district_answer,
    "/v3/geocode/geo": geocode_answer,
    "/v3/geocode/regeo": regeo_answer,
    "/v3/weather/weatherInfo": weather_answer,
    "/v3/place/text": poi_text_answer,
    "/v3/place/around": poi_around_answer,
    "/v3/assistant/inputtips": inputtips_answer,
    "/v3/direction/driving": with_waypoints(direction_answer("driving")),
    "/v3/direction/walking": direction_answer("walking"),
    **EXTRA_DEFAULTS,
}


class FakeAmap(LoopbackServer):
    """The fake server. ``api_key``: the only key accepted (None accepts any non-empty key)."""

    thread_name = "fake-amap"

    def __init__(self, *, api_key: str | None = "test-amap-key") -> None:
        super().__init__()
        self._init_key = api_key
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self._state = _State()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public API

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: use as ``AMAP_BASE_URL``."""
        return f"http://127.0.0.1:{self.port}"

    def set_response(
        self, path: str, body: Body, *, status: int = 200, delay: float = 0.0
    ) -> None:
        """Answer every request to ``path`` with ``body`` (a dict, or a function of the params)
        with HTTP ``status`` after ``delay`` seconds."""
        with self._lock:
            self._state.persistent[path] = _Rule(body, status, delay)

    def queue_response(
        self, path: str, body: Body, *, status: int = 200, delay: float = 0.0
    ) -> None:
        """Answer the next request to ``path`` with ``body`` (queued answers go first)."""
        with self._lock:
            self._state.queued.setdefault(path, deque()).append(_Rule(body, status, delay))

    def set_error(self, path: str | None, infocode: str, *, times: int | None = None) -> None:
        """Answer ``path`` (every endpoint when None) with AMap error ``infocode``, for the next
        ``times`` requests (always when None)."""
        with self._lock:
            self._state.errors[path] = (infocode, times)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The recorded requests to ``path``."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def reset(self) -> None:
        """Default answers, initial key, empty request log."""
        with self._lock:
            self._state = _State()
            self.requests.clear()
        self.api_key = self._init_key

    # ------------------------------------------------------------------ server plumbing

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    def _pick(self, path: str, params: dict[str, str], method: str) -> _Rule | None:
        with self._lock:
            self.requests.append(RecordedRequest(path, dict(params), method))
            for scope in (path, None):
                if scope in self._state.errors:
                    code, times = self._state.errors[scope]
                    if times is not None:
                        if times <= 1:
                            del self._state.errors[scope]
                        else:
                            self._state.errors[scope] = (code, times - 1)
                    return _Rule(error_body(code))
            queue = self._state.queued.get(path)
            if queue:
                return queue.popleft()
            rule = self._state.persistent.get(path)
        if rule is not None:
            return rule
        if path in DEFAULTS:
            return _Rule(DEFAULTS[path])
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        path = request.path
        if not params.get("key") or (self.api_key is not None and params["key"] != self.api_key):
            with self._lock:
                self.requests.append(RecordedRequest(path, params, request.method))
            return _json(error_body("10001"))
        missing = [p for p in REQUIRED.get(path, ()) if not params.get(p)]
        rule = self._pick(path, params, request.method)
        if missing and rule is not None and rule.body in DEFAULTS.values():
            return _json(error_body("20001"))
        if rule is None:
            return _json({"status": "0", "info": "UNKNOWN_ERROR", "infocode": "20003"}, 404)
        if rule.delay:
            await asyncio.sleep(rule.delay)
        body = rule.body(params) if callable(rule.body) else copy.deepcopy(rule.body)
        if isinstance(body, bytes):  # a picture (static map), as AMap sends it
            return web.Response(body=body, status=rule.status, content_type="image/png")
        return _json(body, rule.status)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body, ensure_ascii=False), status=status,
                        headers={"Content-Type": "application/json;charset=UTF-8"})
