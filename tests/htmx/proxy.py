"""A small HTTP proxy in front of a site, which can answer 503 for its stream paths.

Every request is passed on to the site over a connection of its own (``Connection:
close``), bytes as they come, both ways: event streams flow through unbuffered. While
``refusing`` is on, a request whose path starts with one of ``stream_paths`` gets ``503``
at once, as a proxy does while the server behind it restarts; turning it on also cuts the
streams already open. ``cut()`` ends the open streams without refusing new ones; ``stop()`` closes the port
(connection refused) and refuses, ``start()`` opens it again.
``log`` keeps each request line with what the proxy did with it; ``open_streams`` counts
the stream connections open now and ``peak_streams`` the most open at once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

from tests.servers import free_port

_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n\r\nservice unavailable\n"
)


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return b"", b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _close_after(head: bytes) -> bytes:
    lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith((b"connection:", b"keep-alive:"))]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n"


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    for sock in (src, dst):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


@dataclass
class Proxy:
    upstream_port: int
    stream_paths: tuple[str, ...] = ("/sse/stream/",)
    port: int = field(default_factory=free_port)
    refusing: bool = False
    log: list[tuple[str, str]] = field(default_factory=list)
    peak_streams: int = 0
    _streams: set[socket.socket] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listener: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Proxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self.refusing = False
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave the
            # port listening until one more connection came.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                self._listener.close()
        self.refuse(True)

    def refuse(self, on: bool) -> None:
        """Answer 503 to stream requests from now on (cutting open streams), or stop doing so."""
        with self._lock:
            self.refusing = on
            streams = list(self._streams) if on else []
        for sock in streams:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """End the streams open now (as a server restart or a dropped connection does)."""
        with self._lock:
            streams = list(self._streams)
        for sock in streams:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    @property
    def open_streams(self) -> int:
        with self._lock:
            return len(self._streams) // 2

    def stream_requests(self) -> list[str]:
        """The request lines of every stream request so far, in order."""
        with self._lock:
            lines = [line for line, _ in self.log]
        paths = [(line, line.split(" ")[1] if line.count(" ") >= 2 else "") for line in lines]
        return [line for line, path in paths if path.startswith(self.stream_paths)]

    def answered(self, what: str) -> list[str]:
        with self._lock:
            return [line for line, done in self.log if done == what]

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            head, rest = _read_head(client)
            if not head:
                return
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            path = line.split(" ")[1] if line.count(" ") >= 2 else ""
            is_stream = path.startswith(self.stream_paths)
            with self._lock:
                refuse = is_stream and self.refusing
                self.log.append((line, "503" if refuse else "passed"))
            if refuse:
                with contextlib.suppress(OSError):
                    client.sendall(_503)
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
            except OSError:
                return
            upstream.settimeout(None)
            with upstream:
                if is_stream:
                    with self._lock:
                        self._streams.update((client, upstream))
                        self.peak_streams = max(self.peak_streams, len(self._streams) // 2)
                upstream.sendall(_close_after(head) + rest)
                back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
                back.start()
                _pipe(client, upstream)
                back.join()
                with self._lock:
                    self._streams.difference_update((client, upstream))
