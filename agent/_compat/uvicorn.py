"""uvicorn's h11 protocol, subclassed by ``agent.server.connections`` for the timeouts and the
connection cap uvicorn does not have (a header timeout, a send timeout, a cap with an answer)."""

from __future__ import annotations

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol as H11Protocol

_H11 = "uvicorn.protocols.http.h11_impl:H11Protocol"
UPSTREAM: dict[str, str] = {
    f"{_H11}.connection_made": "(self, transport)",
    f"{_H11}.connection_lost": "(self, exc)",
    f"{_H11}.data_received": "(self, data)",
    f"{_H11}.pause_writing": "(self)",
    f"{_H11}.resume_writing": "(self)",
    f"{_H11}.conn": "attribute",
}
"""Each upstream name relied on and its shape (``tests/test_compat.py``; ``attribute``: set as
``self.<name>`` in the class's ``__init__``). The class is subclassed (uvicorn takes a protocol
class as ``Config(http=...)``) and the asyncio protocol hooks it implements are extended; ``conn``
(its ``h11.Connection``) is read for one public h11 fact, whether the peer is still sending a
request head. Kept for correctness: without them a connection that sends its head slowly, or
nothing, is never closed (uvicorn's keep-alive timer starts only after a first response)."""


def awaiting_head(protocol: H11Protocol) -> bool:
    """Whether the connection waits for (the rest of) a request head: between requests, or in
    the middle of one's request line and headers."""
    conn: h11.Connection = protocol.conn
    return conn.their_state is h11.IDLE

