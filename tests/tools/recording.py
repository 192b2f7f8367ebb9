"""vcrpy configuration shared by the geo-tools cassette tests.

Cassettes are *recorded from the loopback fakes* (no provider is reachable from the machines
this project is built on) and *replayed against the real default base URLs*: before a request
is written (and before it is matched on replay), ``before_record_request`` rewrites the fake's
``http://127.0.0.1:<port>[/<prefix>]`` origin to the real provider's origin and drops the ``key``
query parameter and every header except ``accept``/``content-type``.

Re-record with ``pytest tests/tools/test_cassettes_*.py --record-mode=rewrite`` (then the
fixtures below point the tools at the fakes); see ``tests/tools/cassettes/README.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_LOOPBACK = r"^http://(?:127\.0\.0\.1|localhost):\d+"
_KEPT_REQUEST_HEADERS = {"accept", "content-type"}
_KEPT_RESPONSE_HEADERS = {"content-type", "content-length"}


def origin_rewriter(prefixes: dict[str, str]) -> Callable[[str], str]:
    """A function mapping ``http://127.0.0.1:<port>/<prefix>/...`` to ``<real origin>/...``.

    ``prefixes`` maps a fake path prefix ("" for a fake serving one provider at its root) to the
    real origin (possibly with a path, e.g. ``https://routing.openstreetmap.de/routed-foot``).
    Longest prefixes are tried first.
    """
    ordered = sorted(prefixes.items(), key=lambda item: -len(item[0]))
    patterns = [
        (re.compile(_LOOPBACK + (re.escape(prefix) if prefix else "") + r"(?=/|\?|$)"), real)
        for prefix, real in ordered
    ]

    def rewrite(uri: str) -> str:
        for pattern, real in patterns:
            if pattern.match(uri):
                return pattern.sub(real, uri, count=1)
        return uri

    return rewrite


def vcr_config_for(prefixes: dict[str, str]) -> dict[str, Any]:
    """The ``vcr_config`` of a cassette test module."""
    rewrite = origin_rewriter(prefixes)

    def before_record_request(request: Any) -> Any:
        request.uri = rewrite(request.uri)
        request.headers = {
            k: v for k, v in request.headers.items() if k.lower() in _KEPT_REQUEST_HEADERS
        }
        return request

    def before_record_response(response: dict[str, Any]) -> dict[str, Any]:
        response["headers"] = {
            k: v for k, v in response["headers"].items() if k.lower() in _KEPT_RESPONSE_HEADERS
        }
        return response

    return {
        "filter_headers": ["authorization"],
        "filter_query_parameters": ["key"],
        "match_on": ["method", "scheme", "host", "port", "path", "query", "body"],
        "decode_compressed_response": True,
        "before_record_request": before_record_request,
        "before_record_response": before_record_response,
    }


def replaying(vcr: Any) -> bool:
    """True when the cassette only replays (``--record-mode=none`` or an existing ``once``)."""
    return vcr is None or vcr.write_protected
