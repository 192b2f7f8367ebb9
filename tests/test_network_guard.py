"""The suite cannot reach beyond loopback (pytest-socket's --allow-hosts in pyproject.toml)."""

from __future__ import annotations

import socket

import pytest
from pytest_socket import SocketConnectBlockedError


def test_non_loopback_connections_are_refused():
    with pytest.raises(SocketConnectBlockedError):
        socket.create_connection(("203.0.113.7", 443), timeout=0.5)  # TEST-NET-3, never routed


def test_loopback_connections_are_allowed(fake_dashscope):
    socket.create_connection(("127.0.0.1", fake_dashscope.port), timeout=1).close()
