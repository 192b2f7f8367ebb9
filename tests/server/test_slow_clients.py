"""Clients that stop reading hold little: each reply's queue toward its client is bounded, a
client too far behind reads on from the reply's log, every event still exactly once with its
id. A real ``geo-agent serve`` process, raw sockets that never read, the server's RSS from
/proc (``python -m bench.slow_clients`` measures the issue's 100 clients of 20,000 chunks)."""

from __future__ import annotations

from bench.slow_clients import measure

CLIENTS = 10
CHUNKS = 100_000  # a reply far bigger than the kernel's socket buffers on the way


def test_clients_that_never_read_add_little_memory(tmp_path):
    result = measure(CLIENTS, CHUNKS, tmp_path)
    print(f"\n{CLIENTS} non-reading clients of a {CHUNKS:,}-chunk reply: server RSS "
          f"+{result.growth_mib:.1f} MiB (peak +{result.peak_growth_mib:.1f} MiB)")
    assert result.checked_events == CHUNKS + 2  # one stuck client's whole stream, exact
    # Unbounded queues: +152 MiB here (each client's unread events); bounded: about +32 MiB,
    # mostly the replies' own logs (kept for resuming) and the peak of ten running at once.
    assert result.peak_growth_mib < 64, result
