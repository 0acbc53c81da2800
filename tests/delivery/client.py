"""A small asyncio SSE client over a raw socket, for tests that drive many streams.

It speaks just enough HTTP/1.1 (one GET, chunked body) to see what a browser's
EventSource sees (sse.testing's parser): complete events only, comments, the
``id`` of id-only blocks, and whether the stream ended cleanly (the last chunk) or broke.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx

from sse.testing import EventParser

# "<log>-<tag>:<pos>.<pos>...": the log's name, the channels' fingerprint, a position per
# channel: its seq, with "_" and the check of that event in the log (none at seq 0).
_POS = r"[0-9]+(?:_[0-9a-z]{4})?"
_CURSOR = re.compile(rf"([0-9a-z]+-)?([0-9a-z]+):({_POS}(?:\.{_POS})*)")


class StreamBroken(Exception):
    """The connection ended without the last chunk (a network error to a browser)."""


@dataclass
class Event:
    id: str | None  # the stream's last event id (None: none yet)
    event: str | None  # None for an id-only block
    data: str | None  # None: a block without data (nothing dispatched)

    def json(self) -> object:
        assert self.data is not None
        return json.loads(self.data)


@dataclass
class Stream:
    """One open GET: read ``items()`` until it ends; ``abort()`` drops the socket."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    status: int
    headers: dict[str, str]
    comments: list[float] = field(default_factory=list)
    ended_cleanly: bool = False

    def abort(self) -> None:
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()

    async def _chunks(self) -> AsyncIterator[bytes]:
        if self.headers.get("transfer-encoding", "").lower() != "chunked":
            while data := await self.reader.read(65536):
                yield data
            self.ended_cleanly = True
            return
        while True:
            try:
                size_line = await self.reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    self.ended_cleanly = True
                    return
                data = await self.reader.readexactly(size + 2)
            except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
                raise StreamBroken(str(exc) or type(exc).__name__) from None
            yield data[:-2]

    async def items(self) -> AsyncIterator[Event]:
        """Blocks as the browser parses them (sse.testing's parser); comments are counted, not yielded.

        Besides the events, a block that sets the id without data (the opening block) is an
        item, with ``data`` None: it says where the stream starts.
        """
        parser = EventParser()
        comments = 0
        async for chunk in self._chunks():
            # A line at a time, so an id-only block is seen where it ends.
            for line in chunk.splitlines(keepends=True):
                before = parser.last_event_id
                dispatched = parser.feed(line)
                for _ in range(len(parser.comments) - comments):
                    self.comments.append(time.monotonic())
                comments = len(parser.comments)
                for event in dispatched:
                    yield Event(event.id or None, event.event, event.data)
                if not dispatched and parser.last_event_id != before:
                    yield Event(parser.last_event_id or None, None, None)


async def open_stream(
    base_url: str,
    channels: Sequence[str],
    *,
    cookie: str = "",
    token: str = "",
    last_event_id: str | None = None,
    timeout: float = 20.0,
    receive_buffer: int = 0,
) -> Stream:
    """GET /sse/stream/ for ``channels``; raises OSError when nothing listens.

    ``token``: sent as ``?token=``. ``receive_buffer``: a socket receive buffer of about
    that many bytes and a small reader (for a client that stops reading: the server's
    sends then wait soon).
    """
    url = httpx.URL(base_url)
    query = [("channel", c) for c in channels] + ([("token", token)] if token else [])
    path = "/sse/stream/?" + urlencode(query)
    if receive_buffer:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(
                asyncio.get_running_loop().sock_connect(sock, (url.host, url.port)), timeout
            )
        except BaseException:
            sock.close()
            raise
        connecting = asyncio.open_connection(sock=sock, limit=receive_buffer)
    else:
        connecting = asyncio.open_connection(url.host, url.port, limit=1 << 22)
    reader, writer = await asyncio.wait_for(connecting, timeout)
    try:
        lines = [f"GET {path} HTTP/1.1", f"Host: {url.host}:{url.port}", "Accept: text/event-stream"]
        if cookie:
            lines.append(f"Cookie: {cookie}")
        if last_event_id is not None:
            lines.append(f"Last-Event-ID: {last_event_id}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except BaseException:
        writer.transport.abort()
        raise
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return Stream(reader, writer, int(status_line.split()[1]), headers)


def cursor_seqs(event_id: str) -> list[int]:
    m = _CURSOR.fullmatch(event_id)
    assert m, f"not a cursor: {event_id!r}"
    return [int(s.partition("_")[0]) for s in m.group(3).split(".")]


async def wait_until(predicate: object, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def opened(*args: object, **kwargs: object) -> AsyncIterator[Stream]:
    stream = await open_stream(*args, **kwargs)  # type: ignore[arg-type]
    try:
        yield stream
    finally:
        stream.abort()


class Ledger:
    """What one client got, checked as it arrives: each event once, in order per channel.

    Every event's id is a cursor over the stream's channels; the one channel the
    event belongs to must advance by exactly one and the others must not move.
    """

    def __init__(self, channels: Sequence[str]) -> None:
        self.channels = list(channels)
        self.last_id: str | None = None
        self.positions: list[int] | None = None
        self.got: list[tuple[str, str, int]] = []  # (channel, publisher tag, i)
        self.arrivals: list[float] = []  # time.monotonic() of each of got
        self.wall_arrivals: list[float] = []  # time.time() of each of got
        self.payloads: list[dict[str, object]] = []
        self.comments: list[float] = []  # time.monotonic() of each comment line (heartbeats)
        self.problems: list[str] = []
        self.connections = 0
        self.clean_ends = 0
        self.broken_ends = 0

    def take(self, event: Event) -> None:
        if event.id is None:
            if event.data is not None:
                self.problems.append(f"event without id: {event}")
            return
        seqs = cursor_seqs(event.id)
        if event.data is None:  # the id-only opening block: where this stream starts
            if self.positions is None:
                self.positions = seqs
                self.last_id = event.id
            elif seqs != self.positions:
                self.problems.append(f"stream restarted at {seqs}, client was at {self.positions}")
            return
        if event.event == "reset":
            self.problems.append(f"reset {event.data} after {self.last_id}")
            return
        if self.positions is None:
            self.problems.append(f"first event {event.id} came before any position")
            self.positions = [0] * len(self.channels)
        payload = event.json()
        assert isinstance(payload, dict)
        k = self.channels.index(payload["c"])
        expected = list(self.positions)
        expected[k] += 1
        if seqs != expected:
            self.problems.append(f"id {seqs} after {self.positions} for an event of channel {k}")
        self.positions = seqs
        self.last_id = event.id
        self.got.append((payload["c"], payload["p"], payload["i"]))
        self.arrivals.append(time.monotonic())
        self.wall_arrivals.append(time.time())
        self.payloads.append(payload)

    def per_channel(self) -> dict[str, list[tuple[str, int]]]:
        out: dict[str, list[tuple[str, int]]] = {c: [] for c in self.channels}
        for channel, tag, i in self.got:
            out[channel].append((tag, i))
        return out

    def check(self, expected: set[tuple[str, int]]) -> None:
        """Every expected (tag, i) exactly once; each publisher's events in its own order."""
        assert not self.problems, self.problems[:5]
        pairs = [(tag, i) for _, tag, i in self.got]
        dupes = len(pairs) - len(set(pairs))
        assert dupes == 0, f"{dupes} duplicates"
        missing = expected - set(pairs)
        assert not missing, f"{len(missing)} missing, e.g. {sorted(missing)[:5]}"
        assert set(pairs) <= expected, f"unexpected events {sorted(set(pairs) - expected)[:5]}"
        for channel, events in self.per_channel().items():
            by_tag: dict[str, int] = {}
            for tag, i in events:
                assert i > by_tag.get(tag, -1), f"{channel}: {tag} #{i} after #{by_tag[tag]}"
                by_tag[tag] = i

    def check_publish_order(self) -> None:
        """Each publisher's events in the order it published them, across the channels too."""
        last: dict[str, tuple[str, int]] = {}
        for channel, tag, i in self.got:
            before = last.get(tag)
            assert before is None or i > before[1], (
                f"{tag} #{i} on {channel} came after #{before[1]} on {before[0]}"  # type: ignore[index]
            )
            last[tag] = (channel, i)


async def follow(
    base_url: str,
    channels: Sequence[str],
    ledger: Ledger,
    *,
    cookie: str,
    done: object,
    chaos: object = None,
    token: str = "",
) -> None:
    """Keep a stream open, resuming with the last id, until ``done()``.

    With ``chaos`` (a ``random.Random``) every connection is dropped at a random
    moment: after a random time or a random number of events, mid-chunk or not.
    """
    import random

    rng: random.Random | None = chaos  # type: ignore[assignment]
    while not done():  # type: ignore[operator]
        try:
            stream = await open_stream(
                base_url, channels, cookie=cookie, token=token, last_event_id=ledger.last_id
            )
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            await asyncio.sleep(0.1)  # the server is down or restarting
            continue
        ledger.connections += 1
        stream.comments = ledger.comments
        lifetime = rng.uniform(0.05, 2.5) if rng else None
        budget = int(rng.expovariate(1 / 250)) if rng else -1
        try:
            if stream.status != 200:
                ledger.problems.append(f"status {stream.status}")
                await asyncio.sleep(0.5)
                continue
            async with asyncio.timeout(lifetime):
                async for event in stream.items():
                    ledger.take(event)
                    if done():  # type: ignore[operator]
                        break
                    if event.data is not None and budget >= 0:
                        budget -= 1
                        if budget < 0:
                            break
        except TimeoutError:
            pass
        except StreamBroken:
            ledger.broken_ends += 1
        finally:
            stream.abort()
        if stream.ended_cleanly:
            ledger.clean_ends += 1
        await asyncio.sleep(rng.uniform(0, 0.3) if rng else 0.05)


class Crowd:
    """``count`` clients following ``channels`` until each has ``total`` events.

    ``async with Crowd(...) as crowd``: on entry every client is connected (it
    has its opening id); ``await crowd.finished(timeout)`` waits for all of them;
    on exit whatever still runs is cancelled.
    """

    def __init__(
        self,
        base_url: str,
        channels: Sequence[str],
        *,
        cookie: str,
        count: int,
        total: int,
        chaos_seed: int | None = None,
        token: str = "",
    ) -> None:
        import random

        self.ledgers = [Ledger(channels) for _ in range(count)]
        self._tasks = [
            asyncio.create_task(
                follow(
                    base_url,
                    channels,
                    ledger,
                    cookie=cookie,
                    done=lambda ledger=ledger: len(ledger.got) >= total,
                    chaos=None if chaos_seed is None else random.Random(chaos_seed * 1000 + n),
                    token=token,
                )
            )
            for n, ledger in enumerate(self.ledgers)
        ]

    async def __aenter__(self) -> Crowd:
        await wait_until(
            lambda: all(lg.positions is not None for lg in self.ledgers), 60, "every client connected"
        )
        return self

    async def finished(self, timeout: float) -> None:
        await asyncio.wait_for(asyncio.gather(*self._tasks), timeout)

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


# What tests.delivery.publisher publishes, as it appears on the wire (an event's id, then its
# body): the publisher's tag and number. Read with one regular expression per chunk, so a
# client can take in a replay of tens of thousands of events at the speed the server sends.
_TEST_EVENT = re.compile(rb'id: ([^\n]+)\nevent: test\ndata: \{"p":"([^"]+)","i":([0-9]+)')
_ID_LINE = re.compile(rb"^id: ?(.+)$", re.M)
_RETRY = re.compile(rb"(?:^|\n)retry: ([0-9]+)\n")


@dataclass
class Replay:
    """What one resuming client read: every (tag, i) in arrival order, bytes, connections."""

    numbers: list[int] = field(default_factory=list)
    last_id: str | None = None
    bytes: int = 0
    connections: int = 0
    turned_away: int = 0  # streams that ended before any event (a cap: "come back later")
    problems: list[str] = field(default_factory=list)
    ids: list[str] | None = None  # every id received (any event's), in order, when a list is given


async def read_until(
    base_url: str,
    channels: Sequence[str],
    *,
    cookie: str,
    last_event_id: str,
    until_id: str,
    replay: Replay,
    tag: str,
) -> Replay:
    """Resume from ``last_event_id`` and read as fast as the server sends until ``until_id``.

    As a browser would: a stream that ends early is resumed with the last id received,
    after the ``retry:`` the server gave. Events published with tag ``tag`` are recorded
    (``replay.numbers``); anything else that names an event (a ``reset``) is a problem.
    """
    retry_ms = 2000
    replay.last_id = last_event_id
    while replay.last_id != until_id:
        try:
            stream = await open_stream(
                base_url, channels, cookie=cookie, last_event_id=replay.last_id, timeout=120
            )
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            replay.problems.append(f"connect: {exc!r}")
            await asyncio.sleep(1)
            continue
        replay.connections += 1
        got_before = len(replay.numbers)
        try:
            if stream.status != 200:
                replay.problems.append(f"status {stream.status}")
                return replay
            tail = b""
            async for chunk in stream._chunks():
                replay.bytes += len(chunk)
                data = tail + chunk
                cut = data.rfind(b"\n\n") + 2
                blocks, tail = data[:cut], data[cut:]
                if not blocks:
                    continue
                if replay.ids is not None:
                    replay.ids.extend(m.decode() for m in _ID_LINE.findall(blocks))
                if b"event: reset" in blocks:
                    replay.problems.append(f"reset after {replay.last_id}")
                if (m := _RETRY.search(blocks)) is not None:
                    retry_ms = int(m.group(1))
                found = _TEST_EVENT.findall(blocks)
                if found:
                    if any(t != tag.encode() for _, t, _ in found):
                        replay.problems.append("an event of another publisher")
                    replay.numbers.extend(map(int, [i for _, _, i in found]))
                    replay.last_id = found[-1][0].decode()
                if replay.last_id == until_id:
                    break
        except StreamBroken as exc:
            replay.problems.append(f"broken: {exc}")
        finally:
            stream.abort()
        if replay.last_id != until_id:
            if len(replay.numbers) == got_before:
                replay.turned_away += 1
            await asyncio.sleep(retry_ms / 1000)
    return replay


def rss(pid: int) -> int:
    """A process's resident memory, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class PeakRSS(threading.Thread):
    """The highest resident memory of a process while it runs (every 20 ms), until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = rss(pid)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.02):
            self.peak = max(self.peak, rss(self.pid))
