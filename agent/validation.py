"""Checks on caller input, done before any model call."""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from typing import overload
from uuid import UUID

from bailian_geo_agent.agent.errors import InvalidInputError
from bailian_geo_agent.agent.events import OPTIONAL_EVENTS
from bailian_geo_agent.prompts.catalogue import text


def validate_message(message: object, max_chars: int) -> str:
    """The message text, or ``InvalidInputError`` saying what is wrong with it."""
    if not isinstance(message, str):
        raise InvalidInputError(text("message_not_text", type=type(message).__name__))
    if "\x00" in message:
        raise InvalidInputError(text("message_nul"))
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: no provider can be sent them
        raise InvalidInputError(text("message_surrogate")) from None
    if not message.strip() or all(_is_invisible(ch) for ch in message):
        raise InvalidInputError(text("message_empty"))
    if len(message) > max_chars:
        raise InvalidInputError(text("message_too_long", length=len(message), limit=max_chars))
    return message


def _is_invisible(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) in {"Cc", "Cf", "Zs", "Zl", "Zp"}


@overload
def normalize_session_id(session_id: None) -> None: ...
@overload
def normalize_session_id(session_id: str | UUID) -> str: ...
@overload
def normalize_session_id(session_id: object) -> str | None: ...


def normalize_session_id(session_id: object) -> str | None:
    """The canonical UUID string for ``session_id`` (``None`` stays ``None``)."""
    if session_id is None:
        return None
    if isinstance(session_id, UUID):
        return str(session_id)
    if not isinstance(session_id, str):
        raise InvalidInputError(text("session_id_not_text", type=type(session_id).__name__))
    try:
        return str(UUID(session_id.strip()))
    except ValueError:
        shown = session_id if len(session_id) <= 40 else session_id[:40] + "…"
        raise InvalidInputError(text("session_id_invalid", shown=repr(shown))) from None


def validate_events(events: object) -> frozenset[str]:
    """The set of optional event types asked for, or ``InvalidInputError``."""
    if events is None:
        return frozenset()
    if isinstance(events, str) or not isinstance(events, Collection):
        raise InvalidInputError(text("events_not_collection", events=repr(events)))
    unknown = {str(e) for e in events} - OPTIONAL_EVENTS
    if unknown:
        raise InvalidInputError(
            text("events_unknown", unknown=sorted(unknown), known=sorted(OPTIONAL_EVENTS))
        )
    return frozenset(events)
