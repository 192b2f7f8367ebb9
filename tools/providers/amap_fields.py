"""Readers of AMap's JSON fields: every value a string, empty ones sent as ``[]`` (shared by
``amap.py`` and ``amap_extra.py``)."""

from __future__ import annotations

from typing import Any

from bailian_geo_agent.tools.coords import Coordinate

NAME = "高德地图"
"""The provider's user-facing name (``source`` of its results)."""


def text(value: Any) -> str:
    """AMap field -> string: ``[]``/None become "", lists of strings are joined."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value if isinstance(v, str) and v)
    return str(value).strip()


def number(value: Any) -> float | None:
    """AMap numeric string -> float, or None for ``[]``/""/garbage."""
    raw = text(value)
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def location(value: Any) -> Coordinate | None:
    """``"lng,lat"`` -> GCJ-02 Coordinate, or None."""
    raw = text(value)
    if "," not in raw:
        return None
    lng, _, lat = raw.partition(",")
    try:
        return Coordinate(float(lng), float(lat), "gcj02")
    except ValueError:
        return None


def _list(parent: dict[str, Any], key: str) -> list[Any]:
    """``parent[key]`` when it is a list, else [] (AMap sends ``[]``, "" or nothing for none)."""
    value = parent.get(key)
    return value if isinstance(value, list) else []


def _dict(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """``parent[key]`` when it is an object, else {}."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}
