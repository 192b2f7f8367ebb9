"""The geo tools' user-facing texts (provider errors, argument errors, units), zh and en.

Part of the catalogue: ``prompts.catalogue`` merges these rows into ``CATALOGUE``, so they are
rendered with ``text(key, **params)`` like every other message (``tests/test_catalogue.py``
checks each row has every language with the same placeholders).
"""

from __future__ import annotations

from typing import Literal

TOOL_TEXTS: dict[str, dict[Literal["zh", "en"], str]] = {
    # -- arguments and results (tools/common.py) ----------------------------------------------
    "geo_invalid_arguments": {
        "zh": "工具参数无效（invalid arguments）。",
        "en": "Invalid tool arguments.",
    },
    "geo_invalid_arguments_detail": {
        "zh": "工具参数无效（invalid arguments）：{problems}",
        "en": "Invalid tool arguments: {problems}",
    },
    "geo_list_separator": {"zh": "；", "en": "; "},
    "geo_name_separator": {"zh": "、", "en": ", "},
    "geo_result_truncated": {
        "zh": "\n（结果过长，已截断为前 {limit} 个字符，共 {length} 个字符）",
        "en": "\n(result too long: cut to its first {limit} of {length} characters)",
    },
    "geo_unreadable_result": {
        "zh": "{service}返回了无法处理的结果，请稍后再试。",
        "en": "{service} returned a result that could not be handled; try again later.",
    },
    "geo_map_service": {"zh": "地图服务", "en": "the map service"},
    "geo_need_place_or_lnglat": {
        "zh": "需要提供地名或坐标（lng/lat）。",
        "en": "Give a place name or coordinates (lng/lat).",
    },
    "geo_place_not_located": {
        "zh": "找不到“{place}”的坐标。",
        "en": "No coordinates found for \"{place}\".",
    },
    "geo_mode_driving": {"zh": "驾车", "en": "driving"},
    "geo_mode_walking": {"zh": "步行", "en": "walking"},
    "geo_meters": {"zh": "{value}米", "en": "{value} m"},
    "geo_kilometers": {"zh": "{value}公里", "en": "{value} km"},
    "geo_minutes": {"zh": "{minutes}分钟", "en": "{minutes} min"},
    "geo_hours": {"zh": "{hours}小时", "en": "{hours} h"},
    "geo_hours_minutes": {"zh": "{hours}小时{minutes}分钟", "en": "{hours} h {minutes} min"},
    "geo_not_offered": {
        "zh": "{provider}不提供{what}。",
        "en": "{provider} does not offer {what}.",
    },
    "geo_not_offered_any": {
        "zh": "{provider}不提供该功能。",
        "en": "{provider} does not offer this.",
    },
    "geo_capability_ip_location": {"zh": "IP定位", "en": "IP location"},
    "geo_capability_cycling_route": {"zh": "骑行路线规划", "en": "cycling routes"},
    "geo_capability_transit_route": {"zh": "公共交通路线规划", "en": "public transport routes"},
    "geo_capability_distance": {"zh": "距离测量", "en": "distance measurement"},
    "geo_capability_poi_detail": {"zh": "地点详情查询", "en": "place details"},
    # -- HTTP (tools/http.py) ------------------------------------------------------------------
    "geo_response_too_large": {
        "zh": "{service}返回的数据过大（超过 {limit} 字节，GEO_MAX_RESPONSE_BYTES），已放弃读取。",
        "en": "{service} answered with too much data (over {limit} bytes, "
        "GEO_MAX_RESPONSE_BYTES); it was not read.",
    },
    "geo_timeout": {
        "zh": "{service}响应超时，请稍后再试。",
        "en": "{service} did not answer in time; try again later.",
    },
    "geo_unreachable": {
        "zh": "无法连接{service}（网络错误），请稍后再试。",
        "en": "Cannot reach {service} (network error); try again later.",
    },
    "geo_unparsable": {
        "zh": "{service}返回了无法解析的数据，请稍后再试。",
        "en": "{service} returned data that could not be read; try again later.",
    },
    "geo_http_429": {
        "zh": "{service}请求过于频繁（HTTP 429），请稍后再试。",
        "en": "Too many requests to {service} (HTTP 429); try again later.",
    },
    "geo_http_denied": {
        "zh": "{service}拒绝了请求（HTTP {status}），请检查密钥或访问权限。",
        "en": "{service} refused the request (HTTP {status}); check the key or access rights.",
    },
    "geo_http_400": {
        "zh": "{service}认为请求参数无效（HTTP 400）。",
        "en": "{service} found the request's parameters invalid (HTTP 400).",
    },
    "geo_http_504": {
        "zh": "{service}响应超时（HTTP 504），请稍后再试。",
        "en": "{service} did not answer in time (HTTP 504); try again later.",
    },
    "geo_http_unavailable": {
        "zh": "{service}暂时不可用（HTTP {status}），请稍后再试。",
        "en": "{service} is unavailable for now (HTTP {status}); try again later.",
    },
    # -- settings (tools/config.py, tools/providers/__init__.py) ------------------------------
    "geo_amap_needs_key": {
        "zh": "GEO_PROVIDER=amap 需要 AMAP_API_KEY（高德“Web服务”类型的Key）：请设置它，"
        "或使用 GEO_PROVIDER=auto 或 open（免密钥的 OpenStreetMap 开放数据服务）",
        "en": "GEO_PROVIDER=amap needs AMAP_API_KEY (an AMap Web-service key); set it, or use "
        "GEO_PROVIDER=auto or open for the keyless OpenStreetMap-based services",
    },
    # -- AMap (tools/providers/amap.py, amap_extra.py) ----------------------------------------
    "amap_key_invalid": {
        "zh": "高德地图API Key无效：请检查AMAP_API_KEY配置（需要“Web服务”类型的Key）。",
        "en": "The AMap API key is invalid: check AMAP_API_KEY (it must be a Web-service key).",
    },
    "amap_key_not_allowed": {
        "zh": "高德地图API Key没有开通该服务的权限，或Key类型不是“Web服务”。",
        "en": "The AMap API key may not use this service, or it is not a Web-service key.",
    },
    "amap_host_denied": {
        "zh": "高德地图拒绝了本机访问（IP白名单或签名校验未通过）。",
        "en": "AMap refused this machine (IP allow-list or signature check failed).",
    },
    "amap_quota": {
        "zh": "高德地图今日调用次数已用完（明天恢复），暂时无法查询。",
        "en": "The AMap key's daily quota is used up (it resets tomorrow); no lookups for now.",
    },
    "amap_rate_limited": {
        "zh": "高德地图请求过于频繁，请稍后再试。",
        "en": "Too many requests to AMap; try again later.",
    },
    "amap_invalid_params": {
        "zh": "高德地图认为请求参数无效（{info}）。",
        "en": "AMap found the request's parameters invalid ({info}).",
    },
    "amap_route_out_of_range": {
        "zh": "起点或终点不在高德地图路线规划的服务范围内。",
        "en": "The origin or destination is outside AMap's route planning area.",
    },
    "amap_no_road_nearby": {
        "zh": "起点或终点附近没有可通行的道路。",
        "en": "There is no usable road near the origin or destination.",
    },
    "amap_no_route": {
        "zh": "高德地图未能规划出这条路线。",
        "en": "AMap could not plan this route.",
    },
    "amap_too_far": {
        "zh": "起点和终点距离太远，超出了该出行方式的规划范围。",
        "en": "The origin and destination are too far apart for this way of travel.",
    },
    "amap_error": {
        "zh": "高德地图返回错误（{info}，{code}）。",
        "en": "AMap answered with an error ({info}, {code}).",
    },
    "amap_unparsable": {
        "zh": "高德地图返回了无法解析的数据。",
        "en": "AMap returned data that could not be read.",
    },
    "amap_outside_china": {
        "zh": "这个位置不在中国境内，高德地图不提供该地区的数据。",
        "en": "This place is outside China; AMap has no data there.",
    },
    "amap_no_district": {
        "zh": "高德地图找不到“{place}”对应的行政区，请换用中文的城市或区县名称，或提供坐标。",
        "en": "AMap found no district for \"{place}\"; use a Chinese city or district name, "
        "or give coordinates.",
    },
    "amap_no_district_at_point": {
        "zh": "高德地图无法确定这个坐标所在的行政区。",
        "en": "AMap cannot tell which district these coordinates are in.",
    },
    "geo_weather_needs_place": {
        "zh": "需要地名或坐标才能查询天气。",
        "en": "Give a place name or coordinates to look up the weather.",
    },
    "amap_no_weather": {
        "zh": "高德地图没有“{place}”的天气数据。",
        "en": "AMap has no weather data for \"{place}\".",
    },
    "amap_no_places": {
        "zh": "高德地图在{city}没有找到与“{what}”相关的地点{hint}。",
        "en": "AMap found no places for \"{what}\"{city}{hint}.",
    },
    "amap_in_city": {"zh": "{city}", "en": " in {city}"},
    "amap_other_cities": {
        "zh": "（在这些城市有结果：{cities}）",
        "en": " (these cities have results: {cities})",
    },
    "geo_no_places_nearby": {
        "zh": "附近{radius}米内没有找到“{what}”。",
        "en": "No \"{what}\" within {radius} m.",
    },
    "geo_a_place": {"zh": "地点", "en": "places"},
    "amap_no_suggestions": {
        "zh": "高德地图没有与“{query}”匹配的地点建议。",
        "en": "AMap has no place suggestions for \"{query}\".",
    },
    "amap_address_not_found": {
        "zh": "高德地图找不到地址“{address}”。",
        "en": "AMap cannot find the address \"{address}\".",
    },
    "amap_no_address_at_point": {
        "zh": "高德地图无法确定这个坐标的地址（可能不在陆地或不在中国境内）。",
        "en": "AMap cannot find an address at these coordinates (perhaps not on land or not "
        "in China).",
    },
    "amap_origins_count": {
        "zh": "起点数量需在1到{limit}个之间。",
        "en": "Give between 1 and {limit} origins.",
    },
    "amap_no_distance": {
        "zh": "高德地图没有返回距离测量结果。",
        "en": "AMap returned no distances.",
    },
    "amap_no_cycling_route": {
        "zh": "高德地图未能规划出这条骑行路线。",
        "en": "AMap could not plan this cycling route.",
    },
    "amap_no_transit": {
        "zh": "高德地图没有找到这两个地点之间的公共交通方案。",
        "en": "AMap found no public transport between these two places.",
    },
    "amap_ip_not_located": {
        "zh": "高德地图无法定位IP {ip}（只支持中国大陆的公网IPv4地址；境外或未知地址没有结果）。",
        "en": "AMap cannot locate the IP {ip} (only public IPv4 addresses in mainland China; "
        "others have no result).",
    },
    "amap_poi_not_found": {
        "zh": "高德地图找不到ID为“{poi_id}”的地点（ID来自search_poi的结果）。",
        "en": "AMap has no place with the ID \"{poi_id}\" (IDs come from search_poi's results).",
    },
    # -- the open set (tools/providers/open*.py, osm.py, open_meteo.py) -----------------------
    "osm_no_address_at_point": {
        "zh": "OpenStreetMap在这个坐标附近没有找到地址。",
        "en": "OpenStreetMap has no address near these coordinates.",
    },
    "overpass_unparsable": {
        "zh": "Overpass返回了无法解析的数据。",
        "en": "Overpass returned data that could not be read.",
    },
    "overpass_busy": {
        "zh": "Overpass查询超时或负载过高，请稍后再试。",
        "en": "The Overpass query timed out or the server is busy; try again later.",
    },
    "osrm_no_road_route": {
        "zh": "OSRM找不到连接这两个地点的道路路线。",
        "en": "OSRM found no road between these two places.",
    },
    "osrm_cannot_route": {
        "zh": "OSRM无法规划该路线（{reason}）。",
        "en": "OSRM cannot plan this route ({reason}).",
    },
    "osrm_no_route": {
        "zh": "OSRM找不到连接这两个地点的路线。",
        "en": "OSRM found no route between these two places.",
    },
    "osm_no_places": {
        "zh": "OpenStreetMap{city}没有找到与“{what}”相关的地点。",
        "en": "OpenStreetMap has no places for \"{what}\"{city}.",
    },
    "osm_in_city": {"zh": "在{city}", "en": " in {city}"},
    "osm_no_places_nearby": {
        "zh": "附近{radius}米内没有找到“{what}”（OpenStreetMap数据）。",
        "en": "No \"{what}\" within {radius} m (OpenStreetMap data).",
    },
    "open_place_not_found": {
        "zh": "找不到“{place}”，请换一个更完整的地名（城市名或英文名）或提供坐标。",
        "en": "Cannot find \"{place}\"; try a fuller name (a city, or its English name) or "
        "give coordinates.",
    },
    "osm_no_suggestions": {
        "zh": "没有与“{query}”匹配的地点建议。",
        "en": "No place suggestions for \"{query}\".",
    },
    "osm_address_not_found": {
        "zh": "找不到地址“{address}”。",
        "en": "Cannot find the address \"{address}\".",
    },
    "open_meteo_unparsable": {
        "zh": "Open-Meteo返回了无法解析的数据。",
        "en": "Open-Meteo returned data that could not be read.",
    },
    "open_meteo_no_weather": {
        "zh": "Open-Meteo无法提供该位置的天气。",
        "en": "Open-Meteo has no weather for this place.",
    },
    "open_origins_limit": {
        "zh": "开放数据服务一次最多测量{limit}个起点。",
        "en": "The open services measure at most {limit} origins at once.",
    },
    "open_no_cycling_service": {
        "zh": "没有配置骑行路线服务（OSRM_CYCLING_BASE_URL）。",
        "en": "No cycling route service is configured (OSRM_CYCLING_BASE_URL).",
    },
    "open_no_transit": {
        "zh": "公交/地铁换乘规划需要高德地图（设置AMAP_API_KEY并使用GEO_PROVIDER=amap或auto）；"
        "当前的免密钥开放数据服务（OpenStreetMap/OSRM）没有公共交通规划。"
        "可以改用plan_route规划步行或驾车路线，或用cycling_route规划骑行路线。",
        "en": "Public transport routes need AMap (set AMAP_API_KEY and use GEO_PROVIDER=amap or "
        "auto); the keyless open services (OpenStreetMap/OSRM) have no public transport "
        "planning. Use plan_route for a walking or driving route, or cycling_route for cycling.",
    },
    "open_no_ip_location": {
        "zh": "IP定位需要高德地图（设置AMAP_API_KEY并使用GEO_PROVIDER=amap或auto）；"
        "当前的免密钥开放数据服务没有IP定位。请让用户说出所在城市或提供坐标。",
        "en": "IP location needs AMap (set AMAP_API_KEY and use GEO_PROVIDER=amap or auto); the "
        "keyless open services have none. Ask the user for their city or coordinates.",
    },
    "osm_not_an_id": {
        "zh": "“{poi_id}”不是OpenStreetMap的地点ID（形如W5013364或node/123；"
        "高德地图的ID需要高德地图服务）。",
        "en": "\"{poi_id}\" is not an OpenStreetMap place ID (like W5013364 or node/123; AMap "
        "IDs need the AMap service).",
    },
    "osm_poi_not_found": {
        "zh": "OpenStreetMap找不到ID为“{poi_id}”的地点。",
        "en": "OpenStreetMap has no place with the ID \"{poi_id}\".",
    },
    "osm_poi_no_location": {
        "zh": "OpenStreetMap的地点“{poi_id}”没有坐标。",
        "en": "The OpenStreetMap place \"{poi_id}\" has no coordinates.",
    },
    # -- tools (distance.py, map_ops.py, ip_location.py) --------------------------------------
    "geo_no_origin_located": {
        "zh": "无法定位任何起点：{problems}",
        "en": "None of the origins could be located: {problems}",
    },
    "geo_map_places_not_located": {
        "zh": "无法定位这些地点：{places}，地图未更改。",
        "en": "These places could not be located: {places}; the map is unchanged.",
    },
    "geo_ipv6": {
        "zh": "{ip}是IPv6地址，IP定位只支持IPv4地址。",
        "en": "{ip} is an IPv6 address; IP location supports IPv4 only.",
    },
    "geo_ip_not_public": {
        "zh": "{ip}是局域网、本机或保留地址，无法定位；需要用户的公网IP。",
        "en": "{ip} is a private, local or reserved address and cannot be located; the user's "
        "public IP is needed.",
    },
}
