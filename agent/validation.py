"""Checks on caller input, done before any model call."""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from uuid import UUID

from agent.errors import InvalidInputError
from agent.events import OPTIONAL_EVENTS


def validate_message(message: object, max_chars: int) -> str:
    """The message text, or ``InvalidInputError`` saying what is wrong with it."""
    if not isinstance(message, str):
        raise InvalidInputError(f"消息必须是字符串，收到的是 {type(message).__name__}。")
    if "\x00" in message:
        raise InvalidInputError("消息中包含空字符（\\x00），请删除后重试。")
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: no provider can be sent them
        raise InvalidInputError(
            "消息中包含无法编码的字符（不成对的 UTF-16 代理项），请删除后重试。"
        ) from None
    if not message.strip() or all(_is_invisible(ch) for ch in message):
        raise InvalidInputError("消息不能为空，请输入要询问的内容。")
    if len(message) > max_chars:
        raise InvalidInputError(
            f"消息过长：{len(message)} 个字符，超过上限 {max_chars} 个字符"
            "（可通过GEO_AGENT_MAX_MESSAGE_CHARS调整）。请缩短后重试。"
        )
    return message


def _is_invisible(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) in {"Cc", "Cf", "Zs", "Zl", "Zp"}


def normalize_session_id(session_id: object) -> str | None:
    """The canonical UUID string for ``session_id`` (``None`` stays ``None``)."""
    if session_id is None:
        return None
    if isinstance(session_id, UUID):
        return str(session_id)
    if not isinstance(session_id, str):
        raise InvalidInputError(
            f"session_id 必须是 UUID 字符串，收到的是 {type(session_id).__name__}。"
        )
    try:
        return str(UUID(session_id.strip()))
    except ValueError:
        shown = session_id if len(session_id) <= 40 else session_id[:40] + "…"
        raise InvalidInputError(
            f"session_id 格式无效：{shown!r}。"
            "请使用 UUID（例如 str(uuid.uuid4())），或不传以开始新会话。"
        ) from None


def validate_events(events: object) -> frozenset[str]:
    """The set of optional event types asked for, or ``InvalidInputError``."""
    if events is None:
        return frozenset()
    if isinstance(events, str) or not isinstance(events, Collection):
        raise InvalidInputError(
            f"events 必须是事件类型的集合，例如 {{'map_action'}}，收到的是 {events!r}。"
        )
    unknown = {str(e) for e in events} - OPTIONAL_EVENTS
    if unknown:
        raise InvalidInputError(
            f"未知的可选事件类型：{sorted(unknown)}。可选：{sorted(OPTIONAL_EVENTS)}。"
        )
    return frozenset(events)  # type: ignore[arg-type]
