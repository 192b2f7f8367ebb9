"""Coordinates with an explicit reference system, and WGS-84 <-> GCJ-02 conversion.

GCJ-02 ("Mars coordinates") is the obfuscated datum that Chinese map providers (AMap/Gaode,
Tencent) use; everything else (GPS, OpenStreetMap, Open-Meteo, OSRM) uses WGS-84. Outside
mainland China the two are identical. The forward formula is the widely published one (the
same as in googollee/eviltransform); the inverse is solved iteratively to well under a metre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

CRS = Literal["gcj02", "wgs84"]
"""Coordinate reference systems that leave the tools: ``gcj02`` (AMap) or ``wgs84`` (GPS/OSM)."""

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by the GCJ-02 formula
_EE = 0.00669342162296594323  # its first eccentricity squared


@dataclass(frozen=True)
class Coordinate:
    """A point: longitude and latitude in degrees, and the system they are in."""

    lng: float
    lat: float
    crs: CRS = "gcj02"

    def to(self, crs: CRS) -> Coordinate:
        """This point in ``crs`` (itself when already there)."""
        return convert(self, crs)

    def as_dict(self, digits: int = 6) -> dict[str, float | str]:
        """``{"lng", "lat", "crs"}``, rounded (6 digits is about 0.1 m)."""
        return {"lng": round(self.lng, digits), "lat": round(self.lat, digits), "crs": self.crs}

    def lnglat(self, digits: int = 6) -> str:
        """``"lng,lat"`` (the AMap and OSRM wire format, and coordinate labels)."""
        return f"{self.lng:.{digits}f},{self.lat:.{digits}f}"


def out_of_china(lng: float, lat: float) -> bool:
    """True when the point is outside the rough mainland-China box where GCJ-02 applies."""
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _delta(lng: float, lat: float) -> tuple[float, float]:
    d_lat = _transform_lat(lng - 105.0, lat - 35.0)
    d_lng = _transform_lng(lng - 105.0, lat - 35.0)
    rad_lat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lng = (d_lng * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return d_lng, d_lat


def wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    """WGS-84 ``(lng, lat)`` to GCJ-02; unchanged outside China."""
    if out_of_china(lng, lat):
        return lng, lat
    d_lng, d_lat = _delta(lng, lat)
    return lng + d_lng, lat + d_lat


def gcj02_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    """GCJ-02 ``(lng, lat)`` to WGS-84 (iterative inverse, < 1 cm); unchanged outside China."""
    if out_of_china(lng, lat):
        return lng, lat
    w_lng, w_lat = lng, lat
    for _ in range(30):
        g_lng, g_lat = wgs84_to_gcj02(w_lng, w_lat)
        e_lng, e_lat = g_lng - lng, g_lat - lat
        if abs(e_lng) < 1e-9 and abs(e_lat) < 1e-9:
            break
        w_lng, w_lat = w_lng - e_lng, w_lat - e_lat
    return w_lng, w_lat


def convert(point: Coordinate, crs: CRS) -> Coordinate:
    """``point`` expressed in ``crs``."""
    if point.crs == crs:
        return point
    if crs == "gcj02":
        lng, lat = wgs84_to_gcj02(point.lng, point.lat)
    else:
        lng, lat = gcj02_to_wgs84(point.lng, point.lat)
    return Coordinate(lng, lat, crs)


def haversine_m(a: Coordinate, b: Coordinate) -> float:
    """Great-circle distance in metres (both points taken in ``a``'s system)."""
    b = b.to(a.crs)
    r = 6371008.8
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lng - a.lng)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(h)))


def parse_lnglat(text: str, crs: CRS = "gcj02") -> Coordinate | None:
    """``"116.48,39.99"`` -> Coordinate, or None when ``text`` is not a valid ``lng,lat`` pair."""
    parts = str(text).replace("，", ",").split(",")
    if len(parts) != 2:
        return None
    try:
        lng, lat = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    if not (math.isfinite(lng) and math.isfinite(lat)):
        return None
    if not (-180.0 <= lng <= 180.0 and -90.0 <= lat <= 90.0):
        return None
    return Coordinate(lng, lat, crs)
