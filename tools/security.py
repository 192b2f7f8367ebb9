"""The one place for what keeps secrets and networks safe: masking, loopback, URL checks.

Every layer uses these (``tools/`` is the lowest, so they live here): the service's error texts,
the log filters of ``serve``, ``mcp`` and the CLI, the geo tools' results and the settings'
URL validators.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

MASK = "***"
"""What a secret is replaced with."""
MIN_SECRET_LENGTH = 4
"""Shorter values are not masked (they would mask ordinary text)."""

_SECRET_PARAM = re.compile(r"([?&](?:key|api_key|apikey|access_token|token)=)[^&\s\"']+", re.I)
_URL_PASSWORD = re.compile(r"([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@", re.I)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with each of ``secrets``, the values of key-like query parameters (``?key=``,
    ``&token=``...) and URLs' passwords (``postgresql://user:***@host``) replaced by ``MASK``."""
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_LENGTH and secret in text:
            text = text.replace(secret, MASK)
    if "=" in text:
        text = _SECRET_PARAM.sub(rf"\1{MASK}", text)
    if "@" in text:
        text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
    return text


class RedactSecrets(logging.Filter):
    """Masks ``secrets`` and key-like query parameters in every record it passes."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH]

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask every secret in the record's message and arguments, keeping the arguments'
        shape (formatters such as uvicorn's access log read them); always let it through."""
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it itself
            return True
        masked = redact(message, self.secrets)
        if masked == message:
            return True
        msg, args = record.msg, record.args
        record.msg = redact(msg, self.secrets) if isinstance(msg, str) else msg
        if isinstance(args, tuple):
            record.args = tuple(self._arg(a) for a in args)
        elif isinstance(args, Mapping):
            record.args = {k: self._arg(v) for k, v in args.items()}
        try:
            unmasked = redact(record.getMessage(), self.secrets) != record.getMessage()
        except Exception:
            unmasked = True
        if unmasked:  # a secret split across message and arguments: the whole line, masked
            record.msg, record.args = masked, ()
        return True

    def _arg(self, value: object) -> object:
        """``value``, or its text masked when that holds a secret."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value  # %d and %f need numbers; no secret is a number here
        text = value if isinstance(value, str) else str(value)
        masked = redact(text, self.secrets)
        return value if masked == text else masked


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address, ``[::1]`` included) is this machine only."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_private_host(host: str) -> bool:
    """Loopback, private-network and link-local addresses, ``localhost``, ``*.local`` and
    one-label names (a container's service name): hosts that plain HTTP may reach."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith((".localhost", ".local")) or "." not in name:
        return ":" not in name or _private_ip(name)
    return _private_ip(name)


def _private_ip(name: str) -> bool:
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return bool(address.is_loopback or address.is_private or address.is_link_local)


def http_url(value: str) -> str:
    """``value`` without a trailing ``/``; ``ValueError`` unless it is an ``http(s)://host`` URL."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value.rstrip("/")


def refuse_plain_http(url: str, variable: str) -> None:
    """Raise ``ValueError`` when ``url`` is plain ``http://`` to a host beyond loopback and
    private networks (keys would travel unencrypted; the product guide asks for HTTPS)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or is_private_host(parts.hostname or ""):
        return
    from bailian_geo_agent.prompts.catalogue import text

    raise ValueError(text("insecure_url", variable=variable, host=parts.hostname))
