"""``bench.tokens`` still measures what it says: one case of this checkout through the worker
process, its ``usage`` figures matching what the fake received and what its cache accounting
reported (the whole run is ``python -m bench.tokens``)."""

from __future__ import annotations

from bench import tokens
from tests.fakes.amap import FakeAmap
from tests.fakes.dashscope import CacheAccounting, FakeDashScope


def test_one_case_of_the_tokens_bench() -> None:
    fake, amap = FakeDashScope(), FakeAmap(api_key="test-amap-key")
    fake.responder = tokens.responder
    fake.cache_accounting = CacheAccounting()
    case = {"key": "sk-bench-test", "provider": "openai", "mode": "implicit",
            "profile": "API", "events": ["usage"]}
    missing = {**case, "key": "sk-bench-missing", "provider": "no-such-provider"}
    fake.start()
    amap.start()
    try:
        result = tokens.run_side("after", tokens.ROOT, fake, amap, only=[case, missing])
    finally:
        fake.stop()
        amap.stop()
    assert result["sk-bench-missing"] == {
        "skipped": "no 'no-such-provider' provider in this code's registry"}
    row = tokens.summarise(case, result["sk-bench-test"], fake.requests,
                           tokens._fake_cached(fake.requests))
    assert row["requests"] == 4 and row["calls"] == [2, 2]  # a tool round trip a turn
    assert [r.messages[-1]["role"] for r in fake.requests] == ["user", "tool"] * 2
    assert row["reported_input"] == sum(row["sent"]) == row["wire"]
    assert 0 < row["cached"] == row["fake_cached"] < sum(row["sent"])
    assert row["created"] == 0 and row["billed"] < sum(row["sent"])
    assert amap.requests  # the tool ran against the AMap fake
