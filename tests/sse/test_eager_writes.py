"""sse.daphne's TCP connection: bytes go out at once when nothing waits in Twisted's buffer.

A real socket pair; the reactor only records which descriptors want writing, the
way Twisted's reactors keep that book.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet.protocol import Protocol

from sse.daphne import _EagerServer


class _Reactor:
    def __init__(self) -> None:
        self.writers: set[Any] = set()

    def addReader(self, reader: Any) -> None:
        pass

    def removeReader(self, reader: Any) -> None:
        pass

    def addWriter(self, writer: Any) -> None:
        self.writers.add(writer)

    def removeWriter(self, writer: Any) -> None:
        self.writers.discard(writer)

    def callLater(self, delay: float, f: Any, *args: Any) -> None:
        pass


@pytest.fixture
def pair() -> Iterator[tuple[_EagerServer, socket.socket, _Reactor]]:
    ours, peer = socket.socketpair()
    reactor = _Reactor()
    conn = _EagerServer(ours, Protocol(), ("127.0.0.1", 1), None, 0, reactor)  # type: ignore[arg-type]
    peer.settimeout(2)
    yield conn, peer, reactor
    ours.close()
    peer.close()


def read_all(peer: socket.socket, expected: int) -> bytes:
    got = b""
    while len(got) < expected:
        got += peer.recv(1 << 20)
    return got


def test_an_idle_connection_sends_at_once(pair: tuple[_EagerServer, socket.socket, _Reactor]) -> None:
    conn, peer, reactor = pair
    conn.write(b"data: 1\n\n")
    conn.writeSequence([b"5\r\n", b"hello", b"\r\n"])
    assert read_all(peer, 19) == b"data: 1\n\n5\r\nhello\r\n"
    assert conn not in reactor.writers and not conn._tempDataLen


def test_what_the_socket_does_not_take_is_buffered_in_order(
    pair: tuple[_EagerServer, socket.socket, _Reactor],
) -> None:
    conn, peer, reactor = pair
    big = bytes(range(256)) * 40_000  # far more than a socket buffer holds
    conn.write(big)
    assert conn in reactor.writers and conn._tempDataLen > 0
    conn.write(b"after")  # something waits: this one must queue behind it
    assert conn._tempDataBuffer[-1] == b"after"
    received = bytearray()
    while conn in reactor.writers:
        received += peer.recv(1 << 20)
        conn.doWrite()
    received += read_all(peer, len(big) + 5 - len(received))
    assert bytes(received) == big + b"after"


def test_an_aborted_connection_sends_nothing_more(pair: tuple[_EagerServer, socket.socket, _Reactor]) -> None:
    conn, peer, _reactor = pair
    conn.abortConnection()
    conn.write(b"late")
    peer.settimeout(0.2)
    with pytest.raises(TimeoutError):
        peer.recv(10)
