"""The README's troubleshooting table gives each error's opening words in both languages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bailian_geo_agent.prompts.catalogue import CATALOGUE

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
TABLE = README.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
ERRORS = [
    "missing_key", "auth_failed", "model_not_found", "endpoint_not_found", "network_timeout",
    "rate_limited", "server_error", "stream_interrupted", "moderation", "arrears",
    "quota_exhausted", "prompt_too_long", "message_empty", "message_too_long", "session_id_invalid",
    "invalid_settings", "invalid_geo_settings", "store_unavailable", "session_busy",
    "malformed_stream", "invalid_tool_arguments", "empty_reply", "internal_error",
]


def opening(template: str) -> str:
    return re.split(r"[{:：（(.。,，]", template)[0].strip()


@pytest.mark.parametrize("key", ERRORS)
def test_each_error_is_in_the_table_in_both_languages(key: str) -> None:
    for language in ("zh", "en"):
        words = opening(CATALOGUE[key][language])
        assert f"`{words}" in TABLE, (key, language, words)
