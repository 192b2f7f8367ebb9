"""A reply's memory is linear in its text with a small constant: 100,000 one-character chunks
with no answer cap, through the service, on both providers (``bench/memory.py`` measures it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.memory import long_reply_fake, reply_memory

CHUNKS = 100_000


@pytest.fixture(scope="module")
def fake_urls() -> Iterator[tuple[str, str]]:
    with long_reply_fake(CHUNKS) as urls:
        yield urls


@pytest.mark.parametrize("provider", ["openai", "tongyi", "responses"])
def test_a_hundred_thousand_chunk_reply_costs_bytes_per_character(fake_urls, provider):
    chars, grown_mb = reply_memory(*fake_urls, provider)
    assert chars == CHUNKS
    # langchain-core's own merge kept every chunk until the call ended (about 250 MB here);
    # a few bytes per character of text plus the first reply's constant is what is allowed.
    assert grown_mb < 60, grown_mb
