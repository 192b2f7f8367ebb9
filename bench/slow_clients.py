"""Clients that stop reading: ``python -m bench.slow_clients [--clients 100] [--chunks 20000]``.

One ``geo-agent serve`` process (SQLite sessions, the in-process event log, no limits) and a
DashScope fake in its own process answering every request with ``--chunks`` one-character
chunks (``bench.memory.long_reply_fake``). After one warm-up reply read in full, the server's
RSS is the baseline (0 clients). Then ``--clients`` raw sockets each start a reply
(``POST /v1/chat/stream``), read its head and first event, and never read again. Once every
reply has ended (each one's log read to its end through ``GET /v1/chat/{id}/events``), the
server's RSS and peak RSS (``VmHWM``) are read again: the growth is what the non-reading
clients cost. Issue 21's target: 100 clients of a 20,000-chunk reply add at most 50 MiB.
Before the per-client bound, 20 such clients held 196 MiB (issue 21).

Last, one of the stuck clients reads its stream to the end: every event is checked (ids 1, 2,
... without a gap, the text exactly the fake's), so the bound costs no correctness. The send
timeout is set out of the way (``GEO_AGENT_SEND_TIMEOUT=600``): what is measured is what a client
holds while it is still connected.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import h11
import httpx

from bench.memory import long_reply_fake

MIB = 1024 * 1024
RCVBUF = 4096
"""Each client's receive buffer: a client that stops reading is seen as such once the kernel's
buffers on the way are full; kept small so that is soon (the server's own are its defaults)."""
_MESSAGE_ID = re.compile(rb'"message_id":"([0-9a-f-]{36})"')


@dataclass
class Result:
    """One run: the server's memory before and after ``clients`` stopped reading."""

    clients: int
    chunks: int
    baseline_mib: float
    after_mib: float
    peak_mib: float
    seconds: float
    checked_events: int

    @property
    def growth_mib(self) -> float:
        """RSS added by the non-reading clients (after their replies ended)."""
        return self.after_mib - self.baseline_mib

    @property
    def peak_growth_mib(self) -> float:
        """Peak RSS above the baseline."""
        return self.peak_mib - self.baseline_mib


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` now."""
    return _status_kib(pid, "VmRSS") / 1024


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory of process ``pid``."""
    return _status_kib(pid, "VmHWM") / 1024


def _request(host: str, port: int, token: str) -> bytes:
    body = json.dumps({"message": "long", "session_id": str(uuid.uuid4())}).encode()
    return (f"POST /v1/chat/stream HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nAccept: text/event-stream\r\n\r\n").encode() + body


def start_non_reader(host: str, port: int, token: str) -> tuple[socket.socket, bytes, str]:
    """A client that starts a reply, reads up to its first event, then reads nothing more:
    its socket, the bytes it read and the reply's message id."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)  # before connect: the window
    sock.connect((host, port))
    sock.sendall(_request(host, port, token))
    received = b""
    while (found := _MESSAGE_ID.search(received)) is None:
        data = sock.recv(4096)
        if not data:
            raise RuntimeError(f"the server closed the stream: {received[:300]!r}")
        received += data
    return sock, received, found.group(1).decode()


def wait_until_done(url: str, token: str, message_id: str, chunks: int) -> None:
    """Until the reply has ended: its log's tail read through the resume endpoint."""
    headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": str(chunks)}
    with httpx.Client(base_url=url, timeout=600) as client:
        response = client.get(f"/v1/chat/{message_id}/events", headers=headers)
    if response.status_code != 200 or "stream_end" not in response.text:
        raise RuntimeError(f"reply {message_id}: {response.status_code} {response.text[-300:]}")


def read_to_end(sock: socket.socket, received: bytes) -> list[tuple[int, dict]]:
    """The rest of a stuck client's stream, read now: its events as ``(id, data)``."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="POST", target="/", headers=[("Host", "x"),
                                                             ("Content-Length", "0")]))
    conn.send(h11.EndOfMessage())
    body = bytearray()
    data = received
    while True:
        conn.receive_data(data)
        while (event := conn.next_event()) is not h11.NEED_DATA:
            if isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return _events(bytes(body))
            elif isinstance(event, h11.Response) and event.status_code != 200:
                raise RuntimeError(f"HTTP {event.status_code}")
        data = sock.recv(65536)


def _events(body: bytes) -> list[tuple[int, dict]]:
    events = []
    for block in body.decode().replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line
                      and not line.startswith(":"))
        if "data" in fields:
            events.append((int(fields["id"]), json.loads(fields["data"])))
    return events


def check_stream(events: list[tuple[int, dict]], text: str) -> None:
    """Ids 1, 2, ... with no gap, start first, end last, the text exactly ``text``."""
    if [n for n, _ in events] != list(range(1, len(events) + 1)):
        raise AssertionError("ids with a gap or a repeat")
    kinds = [d["type"] for _, d in events]
    if kinds[0] != "stream_start" or kinds[-1] != "stream_end":
        raise AssertionError(f"events {kinds[0]} ... {kinds[-1]}")
    got = "".join(d["chunk"] for _, d in events if d["type"] == "stream_chunk")
    if got != text:
        raise AssertionError(f"text of {len(got)} characters, expected {len(text)}")


def measure(clients: int, chunks: int, workdir: Path, reading: bool = False) -> Result:
    """Run the scenario once (see the module doc)."""
    from tests.server.conftest import TOKEN_A, server_env, start_server

    with long_reply_fake(chunks) as (base, _native):
        env = server_env(base, workdir, GEO_AGENT_SEND_TIMEOUT="600", GEO_AGENT_SSE_PING="15",
                         GEO_AGENT_MAX_ANSWER_CHARS="0")
        server = start_server(workdir, env, "--log-level", "warning")
        pid = server.process.pid
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        stuck: list[tuple[socket.socket, bytes, str]] = []
        try:
            warm = start_non_reader(host, int(port), TOKEN_A)  # the first reply, read in full
            text = "".join(d["chunk"] for _, d in read_to_end(warm[0], warm[1])
                           if d["type"] == "stream_chunk")
            warm[0].close()
            if len(text) != chunks:
                raise AssertionError(f"the warm-up reply had {len(text)} characters")
            baseline = rss_mib(pid)
            started = time.perf_counter()
            for _ in range(clients):
                stuck.append(start_non_reader(host, int(port), TOKEN_A))
            if reading:  # the comparison: the same replies, every client reading
                with ThreadPoolExecutor(len(stuck) or 1) as pool:
                    streams = list(pool.map(lambda c: read_to_end(c[0], c[1]), stuck))
                for events in streams:
                    check_stream(events, text)
            for _, _, message_id in stuck:
                wait_until_done(server.url, TOKEN_A, message_id, chunks)
            seconds = time.perf_counter() - started
            after, peak = rss_mib(pid), peak_rss_mib(pid)
            events = read_to_end(stuck[0][0], stuck[0][1]) if stuck and not reading else []
            if events:
                check_stream(events, text)
        finally:
            for sock, _, _ in stuck:
                sock.close()
            server.stop()
    return Result(clients, chunks, baseline, after, peak, seconds, len(events))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--reading", action="store_true",
                        help="the comparison: every client reads its whole stream")
    args = parser.parse_args()
    with TemporaryDirectory() as tmp:
        result = measure(args.clients, args.chunks, Path(tmp), args.reading)
    kind = "reading" if args.reading else "non-reading"
    print(f"{result.clients} {kind} clients of a {result.chunks:,}-chunk reply "
          f"({result.seconds:.1f} s until every reply ended)")
    print(f"  server RSS, 0 clients (baseline): {result.baseline_mib:7.1f} MiB")
    print(f"  server RSS, after the {result.clients} replies:  {result.after_mib:7.1f} MiB "
          f"(+{result.growth_mib:.1f} MiB)")
    print(f"  server peak RSS:                  {result.peak_mib:7.1f} MiB "
          f"(+{result.peak_growth_mib:.1f} MiB above the baseline)")
    if result.checked_events:
        print(f"  one stuck client then read its {result.checked_events:,} events: ids and "
              "text exact")
    if not args.reading:
        met = "met" if result.peak_growth_mib <= 50 else "NOT met"
        print(f"  issue 21's target, +50 MiB at most for 100 clients of 20,000 chunks: {met}")

if __name__ == "__main__":
    main()
