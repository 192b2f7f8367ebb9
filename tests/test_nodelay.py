"""The listening sockets ``geo-agent serve`` and ``geo-agent mcp --http`` bind serve their
connections with Nagle off (``TCP_NODELAY``).

asyncio sets ``TCP_NODELAY`` only on connections of a socket made with ``IPPROTO_TCP``; one made
with protocol 0 left it on, and every reply's writes after its head waited for the client's
delayed ACK (about 40 ms a reply, ``tests/server/test_sse.py`` times it end to end).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest
from bailian_geo_agent.agent.cli.serve import bind as serve_bind
from bailian_geo_agent.agent.mcp.transports import bind as mcp_bind


@pytest.mark.parametrize("bind", [serve_bind, mcp_bind], ids=["serve", "mcp"])
async def test_an_accepted_connection_has_nagle_off(bind: Callable[[str, int], socket.socket]):
    sock = bind("127.0.0.1", 0)
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = writer.get_extra_info("socket")
        seen.set_result(served.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(accepted, sock=sock)  # listens, as uvicorn does
    try:
        port = sock.getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(seen, 10) != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
