"""A small in-memory TTL + LRU cache for provider answers (identical queries cost no quota)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

_MISSING: Any = object()  # Any: compared by identity with what the dict holds

T = TypeVar("T")


class TTLCache:
    """Maps hashable keys to values for ``ttl`` seconds, keeping at most ``maxsize`` entries.

    Thread-safe (tools may be called from several threads). ``clock`` is injectable for tests.
    """

    def __init__(
        self, maxsize: int = 512, ttl: float = 600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if maxsize <= 0:
            raise ValueError("maxsize must be positive")
        self.maxsize = maxsize
        self.ttl = ttl
        self._clock = clock
        self._data: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The cached value, or ``default`` when absent or expired."""
        with self._lock:
            item = self._data.get(key, _MISSING)
            if item is _MISSING:
                self.misses += 1
                return default
            expires, value = item
            if expires <= self._clock():
                del self._data[key]
                self.misses += 1
                return default
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def set(self, key: Hashable, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (the cache default when None); a cache whose
        default is 0 stores nothing (``GEO_CACHE_TTL=0`` turns every provider's cache off)."""
        lifetime = self.ttl if ttl is None else ttl
        if lifetime <= 0 or self.ttl <= 0:
            return
        with self._lock:
            self._data[key] = (self._clock() + lifetime, value)
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    async def get_or_load(
        self, key: Hashable, load: Callable[[], Awaitable[T]], ttl: float | None = None
    ) -> T:
        """The cached value, else ``await load()`` stored for ``ttl`` seconds (the cache default
        when None). Nothing is stored when ``load`` raises."""
        value: T = self.get(key)
        if value is None:
            value = await load()
            self.set(key, value, ttl)
        return value

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            now = self._clock()
            return sum(1 for expires, _ in self._data.values() if expires > now)


def make_key(*parts: Any, **named: Any) -> tuple[Any, ...]:
    """A hashable cache key from positional parts and sorted named parts (None values dropped)."""
    return (*parts, *sorted((k, v) for k, v in named.items() if v is not None))
