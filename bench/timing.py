"""Timing one streamed reply: time to its first text, to its end, and the text checked."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator


async def timed(texts: AsyncIterator[str], n: int, what: str) -> tuple[float, float]:
    """(first text, total) seconds of reading ``texts``, whose join must be
    ``expected_text(n)`` (the reading starts the request: an async generator is lazy)."""
    from bench.server import expected_text

    started = time.perf_counter()
    first = None
    chunks = []
    async for text in texts:
        if first is None:
            first = time.perf_counter() - started
        chunks.append(text)
    total = time.perf_counter() - started
    if "".join(chunks) != expected_text(n):
        raise AssertionError(f"{what} text differs")
    return first or total, total
