"""Backoff between retries of a model request that failed before sending anything downstream."""

from __future__ import annotations

import random

MAX_DELAY = 8.0


def backoff_delay(attempt: int, base: float) -> float:
    """Seconds to wait before retry number ``attempt`` (from 1): doubling, capped, jittered.

    The jitter (up to a quarter less) keeps many sessions that failed together from retrying
    in step.
    """
    delay = min(base * 2 ** (attempt - 1), MAX_DELAY)
    return delay * (0.75 + random.random() / 4)
