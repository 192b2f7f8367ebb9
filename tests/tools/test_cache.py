"""TTL cache: expiry, LRU bound, keys."""

from __future__ import annotations

import pytest
from bailian_geo_agent.tools.cache import TTLCache, make_key


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_expiry():
    clock = Clock()
    cache = TTLCache(ttl=10, clock=clock)
    cache.set("a", 1)
    cache.set("b", 2, ttl=100)
    assert cache.get("a") == 1
    clock.now = 11
    assert cache.get("a") is None
    assert cache.get("b") == 2
    assert len(cache) == 1


def test_lru_bound():
    cache = TTLCache(maxsize=2)
    cache.set("a", 1)
    cache.set("b", 2)
    cache.get("a")
    cache.set("c", 3)
    assert cache.get("b") is None
    assert cache.get("a") == 1 and cache.get("c") == 3


def test_zero_ttl_does_not_store_and_bad_size_rejected():
    cache = TTLCache(ttl=0)
    cache.set("a", 1)
    assert cache.get("a", "miss") == "miss"
    with pytest.raises(ValueError):
        TTLCache(maxsize=0)


def test_make_key_ignores_order_and_none():
    assert make_key("p", a=1, b=None, c=2) == make_key("p", c=2, a=1)
    assert make_key("p", a=1) != make_key("q", a=1)
