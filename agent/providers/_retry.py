"""Retrying a model stream that failed before it sent anything downstream (both providers).

A stream that has yielded text must never be retried: the text would be shown twice. So each
provider's stream is wrapped once here: on a retryable failure before the first chunk that
counts, wait (doubling, capped, jittered) and open it again.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import aclosing, closing
from typing import TypeVar

MAX_DELAY = 8.0

ChunkT = TypeVar("ChunkT")


def backoff_delay(attempt: int, base: float) -> float:
    """Seconds to wait before retry number ``attempt`` (from 1): doubling, capped, jittered.

    The jitter (up to a quarter less) keeps many sessions that failed together from retrying
    in step.
    """
    delay: float = min(base * 2 ** (attempt - 1), MAX_DELAY)
    return delay * (0.75 + random.random() / 4)


def _always(_: object) -> bool:
    return True


async def aretry_before_first_chunk(
    open_stream: Callable[[], AsyncGenerator[ChunkT, None]],
    *,
    max_retries: int,
    base_delay: float,
    retryable: Callable[[BaseException], bool],
    counts: Callable[[ChunkT], bool] = _always,
) -> AsyncGenerator[ChunkT, None]:
    """The chunks of ``open_stream()``, opened again after a ``retryable`` failure that came
    before any chunk that ``counts`` (at most ``max_retries`` times)."""
    attempt = 0
    while True:
        produced = False
        try:
            async with aclosing(open_stream()) as chunks:
                async for chunk in chunks:
                    produced = produced or counts(chunk)
                    yield chunk
            return
        except Exception as exc:
            if produced or attempt >= max_retries or not retryable(exc):
                raise
        attempt += 1
        await asyncio.sleep(backoff_delay(attempt, base_delay))


def retry_before_first_chunk(
    open_stream: Callable[[], Generator[ChunkT, None, None]],
    *,
    max_retries: int,
    base_delay: float,
    retryable: Callable[[BaseException], bool],
) -> Generator[ChunkT, None, None]:
    """The blocking twin of ``aretry_before_first_chunk`` (every chunk counts)."""
    attempt = 0
    while True:
        produced = False
        try:
            with closing(open_stream()) as chunks:
                for chunk in chunks:
                    produced = True
                    yield chunk
            return
        except Exception as exc:
            if produced or attempt >= max_retries or not retryable(exc):
                raise
        attempt += 1
        time.sleep(backoff_delay(attempt, base_delay))
