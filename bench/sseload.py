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
from array import array
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Load", "SSEConnection", "Storm", "StormClient", "http_request", "percentile", "stream_request"]

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
        seen = len(self.tail)
        buf = self.tail + data
        if b'"b":' in buf:
            for match in _MARK.finditer(buf):
                if match.end() <= seen:
                    continue  # complete in the previous read's tail: counted then
                number = int(match.group(1))
                if number > self.last:
                    self.last = number
                    self.load.arrived(number, now)
                else:
                    self.load.repeats += 1  # a broadcast again, or one older than the last
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
        self.repeats = 0  # broadcasts a connection received twice, or after a later one
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

    async def refresh(self) -> None:
        """Nothing to do: ``open_count`` is always current here (see bench.loadshards)."""

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


# -- reconnecting clients (the storm) ---------------------------------------------------


class StormClient:
    """One browser tab's EventSource on a stream, across connections.

    What it does between connections follows a browser running sse/static/sse/sse.js:
    after a clean end or a broken/refused connection it waits the ``retry:`` the
    server last sent (the browser's own reconnect; default 3 s before any ``retry:``)
    and comes back with ``Last-Event-ID``; after a non-200 answer sse.js takes over
    with its backoff (500 ms * 2^attempt, capped at 30 s, waiting half of it plus up
    to another half at random). ``got`` is every broadcast number received, in order.
    """

    __slots__ = (
        "attempt",
        "connections",
        "got",
        "last_id",
        "live_at",
        "opened_at",
        "over_capacity",
        "request",
        "retry_ms",
        "storm",
        "transport",
    )

    def __init__(self, storm: Storm) -> None:
        self.storm = storm
        self.last_id: str | None = None
        self.retry_ms = 3000
        self.attempt = 0
        self.got = array("I")  # 4 bytes a number: 5,000 clients hold a minute of events cheaply
        self.connections = 0
        self.over_capacity = 0
        self.request = b""  # the next GET, with Last-Event-ID once there is one
        self.transport: asyncio.BaseTransport | None = None  # the current connection
        self.opened_at = 0.0  # time.time() of the current connection's answer
        self.live_at: float | None = None  # time.time() it first got a live event after the restart

    def connect(self) -> None:
        storm = self.storm
        if storm.stopped:
            return
        request = storm.request
        if self.last_id is not None:
            request = request[:-2] + f"Last-Event-ID: {self.last_id}\r\n\r\n".encode()
        task = storm.loop.create_task(
            storm.loop.create_connection(lambda: StormConnection(self), storm.host, storm.port)
        )
        self.request = request
        task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[tuple[asyncio.BaseTransport, asyncio.BaseProtocol]]) -> None:
        if task.cancelled() or task.exception() is not None:
            self.storm.refused += 1
            self.later(self.retry_ms)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def later(self, delay_ms: float) -> None:
        if not self.storm.stopped:
            self.storm.loop.call_later(delay_ms / 1000, self.connect)

    def backoff(self) -> None:
        """sse.js ``_retryLater()`` after the browser gave up on a non-200 answer."""
        self.attempt += 1
        base = min(30000, 500 * 2 ** min(self.attempt, 10))
        self.later(base / 2 + self.storm.random.random() * base / 2)


class StormConnection(asyncio.Protocol):
    """One GET of a StormClient.

    Cheap on purpose (5,000 of them get 20 events a second each): the body is not
    de-chunked line by line. Complete blocks end in a blank line, and the chunk framing
    (``\r\n<hex>\r\n``) never makes one, so everything up to the last ``\n\n`` is
    scanned at once with C-speed searches: the broadcast numbers in order, the last
    ``id:``, any ``retry:``; the last chunk (``0\r\n\r\n``) is a clean end.
    """

    __slots__ = ("body", "client", "head", "saw_id", "status", "transport")

    def __init__(self, client: StormClient) -> None:
        self.client = client
        self.status: int | None = None
        self.head = b""
        self.body = b""  # received after the last complete block
        self.saw_id = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.BaseTransport = transport
        self.client.transport = transport
        transport.write(self.client.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.status is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            try:
                self.status = int(self.head.split(b" ", 2)[1])
            except (IndexError, ValueError):
                self.status = 0
            data, self.head = self.head[end + 2 :], b""  # keep a CRLF before the first chunk size
            client = self.client
            client.connections += 1
            if self.status != 200:
                self.transport.close()
                return
            client.attempt = 0
            client.opened_at = time.time()
        raw = self.body + data
        end = raw.rfind(b"\n\n")
        if end >= 0:
            self._blocks(raw[: end + 2])
            raw = raw[end + 2 :]
        self.body = raw
        if raw.endswith(b"\r\n0\r\n\r\n"):  # the last chunk: the server ended the stream
            self.transport.close()

    def _blocks(self, text: bytes) -> None:
        client = self.client
        at = text.rfind(b"\nid:")
        if at >= 0:
            self.saw_id = True
            client.last_id = text[at + 4 : text.index(b"\n", at + 1)].strip().decode()
        if b"retry:" in text:
            at = text.rfind(b"retry:")
            value = text[at + 6 : text.index(b"\n", at)].strip()
            if value.isdigit():
                client.retry_ms = int(value)
        if b'"b":' in text:
            client.storm.received(client, [int(m) for m in _MARK.findall(text)])

    def connection_lost(self, exc: Exception | None) -> None:
        client = self.client
        storm = client.storm
        if self.status is None:
            storm.refused += 1
            client.later(client.retry_ms)
        elif self.status != 200:
            storm.non_200 += 1
            client.backoff()
        else:
            if not self.saw_id and storm.restarted_at is not None:
                client.over_capacity += 1  # 200 + retry, no stream: come back later
            client.later(client.retry_ms)


class Storm:
    """``count`` StormClients on one stream URL; their broadcast numbers and arrival times."""

    def __init__(self, host: str, port: int, request: bytes, count: int, seed: int = 0) -> None:
        import random

        self.loop = asyncio.get_running_loop()
        self.host, self.port, self.request = host, port, request
        self.random = random.Random(seed)
        self.clients = [StormClient(self) for _ in range(count)]
        self.stopped = False
        self.refused = 0
        self.non_200 = 0
        self.restarted_at: float | None = None  # time.time() the new process listened
        self.published: dict[int, float] = {}  # number -> time.time() it was published

    async def open_all(self, concurrency: int = 50, timeout: float = 300) -> None:
        """Connect every client, ``concurrency`` at a time, until each has its opening id."""
        gate = asyncio.Semaphore(concurrency)

        async def one(client: StormClient) -> None:
            async with gate:
                client.connect()
                while client.last_id is None:
                    await asyncio.sleep(0.02)

        await asyncio.wait_for(asyncio.gather(*(one(c) for c in self.clients)), timeout)

    def received(self, client: StormClient, numbers: list[int]) -> None:
        client.got.extend(numbers)
        if client.live_at is None and self.restarted_at is not None:
            published = self.published.get(numbers[-1])
            # Published after this connection was answered: the backlog is behind it.
            if published is not None and published > client.opened_at > self.restarted_at:
                client.live_at = time.time()

    def caught_up(self) -> int:
        return sum(1 for c in self.clients if c.live_at is not None)

    def have(self, number: int) -> int:
        return sum(1 for c in self.clients if c.got and c.got[-1] >= number)

    def stop(self) -> None:
        self.stopped = True

    def verdict(self, last: int) -> dict[str, int]:
        """Over all clients, against 1..last: holes (lost), repeats, numbers going back.

        A client still short of ``last`` at the end is counted as behind, not as losing
        what has not reached it yet: only holes below the highest number it got are lost.
        """
        lost = doubled = disorder = behind = 0
        for client in self.clients:
            seen = set(client.got)
            top = max(seen, default=0)
            lost += top - len(seen)  # every number seen is in 1..top
            doubled += len(client.got) - len(seen)
            disorder += sum(1 for a, b in zip(client.got, client.got[1:], strict=False) if b < a)
            behind += top < last
        return {"lost": lost, "doubled": doubled, "out_of_order": disorder, "behind": behind}


# -- ordinary requests over keep-alive connections ---------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    fields = head.lower()
    match = re.search(rb"\r\ncontent-length: *(\d+)", fields)
    if match:
        return status, await reader.readexactly(int(match.group(1)))
    if b"transfer-encoding: chunked" in fields:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                return status, b"".join(parts)
            parts.append(data[:-2])
    return status, await reader.read()


async def keepalive_rate(
    port: int,
    method: str,
    path: str,
    *,
    body: object = None,
    headers: Iterable[tuple[str, str]] = (),
    clients: int = 8,
    seconds: float = 5.0,
    host: str = LOOPBACK,
) -> dict[str, object]:
    """Requests per second of ``clients`` keep-alive connections asking one URL for ``seconds``."""
    payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    lines += [f"{k}: {v}" for k, v in headers]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
    statuses: defaultdict[int, int] = defaultdict(int)
    done = 0
    stop_at = time.perf_counter() + seconds

    async def one() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < stop_at:
                writer.write(request)
                status, _ = await _read_response(reader)
                statuses[status] += 1
                done += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return {"requests": done, "seconds": elapsed, "per_second": done / elapsed, "statuses": dict(statuses)}
