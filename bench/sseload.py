"""A load client that holds thousands of SSE connections from one asyncio process.

Standard library only (the tests import it from the project's .venv). Each
connection is a bare ``asyncio.Protocol``: no HTTP library, no per-connection
task, so the client costs far less than the servers it measures.

Broadcasts carry a JSON object with ``"b": <number>``; every connection notes
when it first saw each number, so a broadcast's arrival times across all
connections give p50, p99 and time-to-all.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Load", "SSEConnection", "http_request", "percentile", "stream_request"]

# A complete marker: the number must be followed by its terminator, so a marker
# cut in two by a read is only counted once the rest has arrived.
_MARK = re.compile(rb'"b": ?(\d+)[,}]')
_TAIL = 32
LOOPBACK = "127.0.0.1"


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def stream_request(host: str, port: int, path: str, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: text/event-stream"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class SSEConnection(asyncio.Protocol):
    __slots__ = (
        "bytes",
        "closed",
        "head",
        "last",
        "load",
        "opened",
        "request",
        "status",
        "tail",
        "transport",
    )

    def __init__(self, load: Load, request: bytes) -> None:
        self.load = load
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.status: int | None = None
        self.head = b""
        self.tail = b""
        self.last = -1
        self.bytes = 0
        self.opened: asyncio.Future[int] = load.loop.create_future()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.bytes += len(data)
        if self.status is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            try:
                self.status = int(self.head.split(b" ", 2)[1])
            except (IndexError, ValueError):
                self.status = 0
            data, self.head = self.head[end + 4 :], b""
            # Opened = the server sent its answer (for an SSE server: it is subscribed).
            if not self.opened.done():
                self.opened.set_result(self.status)
            if not data:
                return
        buf = self.tail + data
        if b'"b":' in buf:
            for match in _MARK.finditer(buf):
                number = int(match.group(1))
                if number > self.last:
                    self.last = number
                    self.load.arrived(number, now)
        self.tail = buf[-_TAIL:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.load.lost += 1
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed before answering: {exc}"))

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()


@dataclass
class ConnectResult:
    opened: int
    failed: int
    seconds: float
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.opened / self.seconds if self.seconds > 0 else float("nan")


class Load:
    """The connections of one run and the arrival times of every broadcast."""

    def __init__(self, host: str = LOOPBACK) -> None:
        self.host = host
        self.loop = asyncio.get_running_loop()
        self.connections: list[SSEConnection] = []
        self.arrivals: defaultdict[int, list[float]] = defaultdict(list)
        self.lost = 0
        self._waiters: dict[int, tuple[int, asyncio.Future[None]]] = {}

    def arrived(self, number: int, when: float) -> None:
        times = self.arrivals[number]
        times.append(when)
        waiter = self._waiters.get(number)
        if waiter is not None and len(times) >= waiter[0] and not waiter[1].done():
            waiter[1].set_result(None)

    @property
    def open_count(self) -> int:
        return sum(1 for c in self.connections if not c.closed and c.status == 200)

    async def connect(
        self, port: int, request: bytes, count: int, *, concurrency: int = 50, timeout: float = 120.0
    ) -> ConnectResult:
        """Open ``count`` more streams, ``concurrency`` handshakes at a time."""
        statuses: defaultdict[int, int] = defaultdict(int)
        failed = 0
        gate = asyncio.Semaphore(concurrency)
        deadline = self.loop.time() + timeout

        async def one() -> None:
            nonlocal failed
            async with gate:
                if self.loop.time() > deadline:
                    failed += 1
                    return
                try:
                    _, conn = await asyncio.wait_for(
                        self.loop.create_connection(lambda: SSEConnection(self, request), self.host, port),
                        timeout=30,
                    )
                    status = await asyncio.wait_for(conn.opened, timeout=60)
                except (TimeoutError, OSError, ConnectionError):
                    failed += 1
                    return
                statuses[status] += 1
                self.connections.append(conn)
                if status != 200:
                    failed += 1

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        seconds = time.perf_counter() - started
        return ConnectResult(count - failed, failed, seconds, dict(statuses))

    async def wait_for(self, number: int, receivers: int, timeout: float) -> bool:
        """Until ``receivers`` connections saw broadcast ``number``; False on timeout."""
        if len(self.arrivals[number]) >= receivers:
            return True
        future: asyncio.Future[None] = self.loop.create_future()
        self._waiters[number] = (receivers, future)
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self._waiters.pop(number, None)

    def close_all(self) -> None:
        for conn in self.connections:
            conn.close()
        self.connections.clear()


async def http_request(
    port: int,
    method: str,
    path: str,
    *,
    body: object = None,
    headers: Iterable[tuple[str, str]] = (),
    host: str = LOOPBACK,
    timeout: float = 120.0,
) -> tuple[int, bytes]:
    """One HTTP/1.1 request on its own connection, without blocking the loop."""
    payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    lines += [f"{k}: {v}" for k, v in headers]
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        rest = _unchunk(rest)
    return status, rest


def _unchunk(data: bytes) -> bytes:
    out = []
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out.append(data[:size])
        data = data[size + 2 :]
    return b"".join(out)
