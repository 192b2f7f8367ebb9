"""Input checks done before any model call."""

from __future__ import annotations

import uuid

import pytest
from bailian_geo_agent.agent.errors import InvalidInputError
from bailian_geo_agent.agent.validation import (
    normalize_session_id,
    validate_events,
    validate_message,
)


@pytest.mark.parametrize("message", ["", " ", "\n\t", "\u200b\u200b", "\u3000", "\x01\x02"])
def test_blank_messages_are_rejected(message):
    with pytest.raises(InvalidInputError, match="不能为空"):
        validate_message(message, 100)


@pytest.mark.parametrize("message", [None, 1, b"bytes", ["list"], {"a": 1}])
def test_non_strings_are_rejected(message):
    with pytest.raises(InvalidInputError, match="字符串"):
        validate_message(message, 100)


def test_length_limit_names_the_setting():
    assert validate_message("x" * 100, 100) == "x" * 100
    with pytest.raises(InvalidInputError, match="GEO_AGENT_MAX_MESSAGE_CHARS"):
        validate_message("x" * 101, 100)


def test_nul_characters_are_rejected():
    with pytest.raises(InvalidInputError, match="空字符"):
        validate_message("a\x00b", 100)


def test_session_ids_are_canonical_uuids():
    value = uuid.uuid4()
    assert normalize_session_id(None) is None
    assert normalize_session_id(value) == str(value)
    assert normalize_session_id(str(value).upper()) == str(value)
    for bad in ["abc", "", 12, 1.5, ["x"], "x" * 1000]:
        with pytest.raises(InvalidInputError, match="session_id"):
            normalize_session_id(bad)


def test_events_must_be_known_optional_types():
    assert validate_events({"map_action"}) == {"map_action"}
    assert validate_events(None) == frozenset()
    for bad in ["map_action", {"stream_chunk"}, 5]:
        with pytest.raises(InvalidInputError):
            validate_events(bad)
