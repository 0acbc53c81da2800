"""The operator console's live side: the event tail, per-process stream reports, disconnects.

Who sees what: the console's channels (``console.tail``, ``console.streams``) are readable
only by active staff with the ``notifications.use_console`` permission (superusers have
it). Such a user sees the events of *every* channel and every open stream, whoever may
read them: the permission is the grant to see them all, so give it only to operators.

The event tail reads the event log, not the hub. Every ``publish()`` in every process
(server, job worker, shell, management command) appends to the log shared by all of them
before it goes out, so a reader of the log sees all of them with REDIS_URL or without; a
hub only hears the channels its own process has streams on. A process with a console
stream open reads the rows added since its cursor once a second and publishes them, at
most ``TAIL_BATCH`` a second (the newest; the page is told how many it skipped) with
payloads cut at ``TAIL_PAYLOAD_CHARS``, as one ``tail`` event on ``console.tail``: the
tail cannot flood the page or the log. Two processes with viewers both publish; the page
drops what it already has (by log row id). Limits: the log does not record which process
published an event; an ephemeral channel keeps only its latest event, so the tail may
miss some of a fast one's; ``console.*`` itself is left out (it would tail itself).
Row ids are insert order: on PostgreSQL a row can commit after a higher one, so ids the
reader skipped are looked at again for ``GAP_SECONDS``.

Deliveries are recorded as they happen, not worked out later from the streams open then:
for ``DELIVERY_WATCH_SECONDS`` after the reader sees a row, each process that runs a reader
(one with a console stream, or any while a console watches over the layer) looks at its
own streams on the row's channel once a second, and a stream whose last event id has
reached the row's seq is recorded as a delivery (with ``process``, ``serial`` and user) in
the next ``tail`` batch's ``deliveries`` (a process with no viewer sends only those). A
stream that opened after the event counts only once seen behind it (its replay then sent
it): one that started at the log's head never had it. A delivery to a stream that opened
and closed inside one second is missed.

Open streams: each server process reports its own streams every ``REPORT_SECONDS`` on
``console.streams`` while someone watches (a console stream in the process, or, with a
layer that reaches other processes, a "watching" ping on the control group in the last
``WATCH_SECONDS``). A disconnect request names the process and the stream's number: the
process that got it closes the stream itself if it holds it, else sends it on the control
group of the channel layer, which every server process listens to.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

import sse
from notifications.dashboard import PROCESS
from sse import ChannelHub
from sse.ids import read_event_id
from sse.layer_groups import follow_group, send_to_group
from sse.operator import StreamInfo, disconnect, log_rows, log_tail, open_streams
from sse.signals import stream_opened
from sse.storage import TailEvent

__all__ = [
    "CONSOLE_PERMISSION",
    "STREAMS",
    "TAIL",
    "Console",
    "can_use_console",
    "ensure_console",
    "last_row_id",
    "recent_events",
    "request_disconnect",
]

logger = logging.getLogger("notifications.console")

CONSOLE_PERMISSION = "notifications.use_console"
TAIL = "console.tail"
STREAMS = "console.streams"
CONTROL_GROUP = "sse-console-control"

TAIL_SECONDS = 1.0
TAIL_BATCH = 50
TAIL_PAYLOAD_CHARS = 2000
GAP_SECONDS = 10.0
REPORT_SECONDS = 2.0
REPORT_MAX_STREAMS = 200
WATCH_SECONDS = 10.0
DELIVERY_WATCH_SECONDS = 5.0
DELIVERY_WATCH_ROWS = 500
REASON_CHARS = 200
# A reader primed by a page view waits this long for the page's stream before it is dropped.
TAIL_IDLE_SECONDS = 30.0

_consoles: weakref.WeakKeyDictionary[ChannelHub, Console] = weakref.WeakKeyDictionary()


def can_use_console(user: Any) -> bool:
    return bool(
        user.is_authenticated and user.is_active and user.is_staff and user.has_perm(CONSOLE_PERMISSION)
    )


@sse.channel(TAIL, ephemeral=True)
def can_read_tail(user: Any) -> bool:
    return can_use_console(user)


@sse.channel(STREAMS, ephemeral=True)
def can_read_stream_reports(user: Any) -> bool:
    return can_use_console(user)


# -- the tail ------------------------------------------------------------------


def _iso(moment: datetime | float) -> str:
    """To the millisecond, with its offset (pages show it in the reader's zone)."""
    if isinstance(moment, float):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.isoformat(timespec="milliseconds")


def _tail_row(row: TailEvent) -> dict[str, Any]:
    data = row.data
    return {
        "row": row.row,
        "id": sse.event_id({row.channel: row.seq}),
        "seq": row.seq,
        "channel": row.channel,
        "event": row.event or "message",
        "data": data[:TAIL_PAYLOAD_CHARS],
        "size": len(data.encode()),
        "truncated": len(data) > TAIL_PAYLOAD_CHARS,
        "created": _iso(row.created),
    }


# The console's own channels are left out of the tail (it would tail itself).
OUTSIDE_CONSOLE = ("console.",)


def recent_events(limit: int = 20) -> list[dict[str, Any]]:
    """The newest ``limit`` events of the log, oldest first (the console page renders them)."""
    rows = log_tail(limit, exclude=OUTSIDE_CONSOLE).events
    return [_tail_row(row) for row in reversed(rows)]


def last_row_id() -> int:
    newest = log_tail(1).events
    return newest[0].row if newest else 0


class TailReader:
    """Log rows after a cursor, the newest ``TAIL_BATCH`` of them; ids skipped are looked at again."""

    def __init__(self, cursor: int) -> None:
        self.cursor = cursor
        self.gaps: dict[int, float] = {}  # row id -> when first missed

    def read(self) -> tuple[list[dict[str, Any]], int]:
        """(rows, how many newer rows were left out); sync: call in a thread."""
        now = time.monotonic()
        tail = log_tail(TAIL_BATCH, after=self.cursor, exclude=OUTSIDE_CONSOLE)
        rows, skipped = tail.events, tail.left_out
        if rows and len(rows) < TAIL_BATCH:
            seen = {row.row for row in rows}
            for missing in range(self.cursor + 1, rows[0].row):
                if missing not in seen and len(self.gaps) < 4 * TAIL_BATCH:
                    self.gaps.setdefault(missing, now)
        if rows:
            self.cursor = max(self.cursor, rows[0].row)
        self.gaps = {pk: t for pk, t in self.gaps.items() if now - t < GAP_SECONDS}
        late: list[TailEvent] = []
        if self.gaps:
            late = log_rows(list(self.gaps), exclude=OUTSIDE_CONSOLE)
            for row in late:
                self.gaps.pop(row.row, None)
        found = sorted([*rows, *late], key=lambda row: row.row)
        return [_tail_row(row) for row in found], skipped


class _Watched:
    __slots__ = ("behind", "channel", "created", "delivered", "seen", "seq")

    def __init__(self, channel: str, seq: int, created: float, seen: float) -> None:
        self.channel, self.seq, self.created, self.seen = channel, seq, created, seen
        self.behind: set[int] = set()  # serials of streams seen before they had it
        self.delivered: set[int] = set()


def _position(stream: StreamInfo, channel: str) -> int | None:
    """The seq of ``channel`` that ``stream`` was last sent (None: not known)."""
    if not stream.last_event_id:
        return None
    found = read_event_id(stream.last_event_id, stream.channels)
    at = None if found is None else found.get(channel)
    return None if at is None else at.seq


class Deliveries:
    """Which of this process's streams each tail row reached, recorded as it happens (on the loop)."""

    def __init__(self) -> None:
        self.watched: dict[int, _Watched] = {}  # row -> what is known of it

    def watch(self, rows: Iterable[dict[str, Any]], now: float) -> None:
        for row in rows:
            if row["row"] in self.watched or len(self.watched) >= DELIVERY_WATCH_ROWS:
                continue
            created = datetime.fromisoformat(row["created"]).timestamp()
            self.watched[row["row"]] = _Watched(row["channel"], row["seq"], created, now)

    def check(self, streams: Sequence[StreamInfo], now: float) -> dict[int, list[StreamInfo]]:
        """The deliveries seen since the last check: row -> streams newly known to have had it."""
        found: dict[int, list[StreamInfo]] = {}
        if not self.watched:
            return found
        by_channel: dict[str, list[StreamInfo]] = {}
        for stream in streams:
            for channel in stream.channels:
                by_channel.setdefault(channel, []).append(stream)
        for row, seen in list(self.watched.items()):
            for stream in by_channel.get(seen.channel, ()):
                if stream.serial in seen.delivered:
                    continue
                at = _position(stream, seen.channel)
                if at is None:
                    continue
                if at < seen.seq:
                    seen.behind.add(stream.serial)
                elif stream.opened_at <= seen.created or stream.serial in seen.behind:
                    seen.delivered.add(stream.serial)
                    found.setdefault(row, []).append(stream)
            if now - seen.seen > DELIVERY_WATCH_SECONDS:
                del self.watched[row]
        return found


def delivery_rows(found: dict[int, list[StreamInfo]], usernames: dict[str, str]) -> list[dict[str, Any]]:
    """``found`` as the page reads it: one entry per row, its streams named by process and serial."""
    return [
        {
            "row": row,
            "streams": [
                {"process": PROCESS, "serial": s.serial, "user": _username(s.user_key, usernames)}
                for s in streams
            ],
        }
        for row, streams in sorted(found.items())
    ]


# -- open streams --------------------------------------------------------------


def _username(user_key: str | None, usernames: dict[str, str]) -> str:
    return usernames.get(user_key or "", user_key or "anonymous")


def stream_row(stream: StreamInfo, usernames: dict[str, str]) -> dict[str, Any]:
    # Lag: how long frames have waited unwritten (0 with an empty queue), and how many.
    return {
        "process": PROCESS,
        "serial": stream.serial,
        "user": _username(stream.user_key, usernames),
        "channels": list(stream.channels),
        "since": _iso(stream.opened_at),
        "bytes": stream.bytes_sent,
        "queued": stream.queued,
        "lag_s": round(stream.waiting, 1),
        "last_event_id": stream.last_event_id,
        "user_agent": stream.user_agent,
        "transport": stream.transport,
    }


def _usernames(keys: Iterable[str]) -> dict[str, str]:
    pks = [key for key in set(keys) if key.isdigit()]
    users = get_user_model()._default_manager.filter(pk__in=pks)
    return {str(pk): name for pk, name in users.values_list("pk", get_user_model().USERNAME_FIELD)}


async def stream_report(hub: ChannelHub) -> dict[str, Any]:
    """This process's open streams (the newest ``REPORT_MAX_STREAMS``), on the hub's loop."""
    streams = sorted(open_streams(hub), key=lambda stream: stream.opened_at, reverse=True)
    shown = streams[:REPORT_MAX_STREAMS]
    keys = [stream.user_key for stream in shown if stream.user_key]
    usernames = await sync_to_async(_usernames, thread_sensitive=False)(keys) if keys else {}
    return {
        "process": PROCESS,
        "time": time.time(),
        "total": len(streams),
        "streams": [stream_row(stream, usernames) for stream in shown],
    }


def online_streams(hub: ChannelHub, channels: Sequence[str]) -> tuple[int, set[str]]:
    """Streams of this process on any of ``channels``, and their readers' user keys (on the loop)."""
    wanted = set(channels)
    count = 0
    users: set[str] = set()
    for stream in open_streams(hub):
        if wanted.intersection(stream.channels):
            count += 1
            if stream.user_key:
                users.add(stream.user_key)
    return count, users


# -- one process's console work ------------------------------------------------


class Console:
    """The tail reader, the stream reporter and the control listener of one hub (its loop)."""

    def __init__(self, hub: ChannelHub) -> None:
        self.hub = hub
        self.tasks: list[asyncio.Task[None]] = []
        self.reader: TailReader | None = None
        self.reader_used = 0.0
        self.watched_until = 0.0
        self.deliveries = Deliveries()

    def start(self) -> None:
        if any(not task.done() for task in self.tasks):
            return
        loop = self.hub.loop
        self.tasks = [loop.create_task(self._tail_loop()), loop.create_task(self._report_loop())]
        if self.hub.layer_reaches_other_processes:
            self.tasks.append(loop.create_task(self._control_loop()))

    def prime_tail(self, cursor: int) -> None:
        """A page rendered the log up to row ``cursor``: the tail goes on from there, so what is
        published between the page view and its stream is not lost (pages drop repeats)."""
        if self.reader is None:
            self.reader = TailReader(cursor)
        else:
            self.reader.cursor = min(self.reader.cursor, cursor)
        self.reader_used = self.hub.loop.time()

    def viewers_here(self) -> bool:
        return self.hub.streams_on([TAIL, STREAMS]) > 0

    async def _tail_loop(self) -> None:
        while self.hub.active:
            await asyncio.sleep(TAIL_SECONDS)
            try:
                await self._tail_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a DB hiccup must not end the tail for good
                logger.warning("reading the event log for the console failed: %s", exc)

    async def _tail_once(self) -> None:
        now = self.hub.loop.time()
        viewers = self.hub.streams_on([TAIL]) > 0
        # Watched from another process: read too, to record what this process delivers.
        if not viewers and now >= self.watched_until:
            if now - self.reader_used > TAIL_IDLE_SECONDS:
                self.reader = None  # start again from "now" when someone watches again
                self.deliveries = Deliveries()
            return
        self.reader_used = now
        if self.reader is None:
            self.reader = TailReader(await sync_to_async(last_row_id, thread_sensitive=False)())
            return
        rows, skipped = await sync_to_async(self.reader.read, thread_sensitive=False)()
        self.deliveries.watch(rows, self.hub.loop.time())
        found = self.deliveries.check(open_streams(self.hub), self.hub.loop.time())
        deliveries: list[dict[str, Any]] = []
        if found:
            keys = [s.user_key for streams in found.values() for s in streams if s.user_key]
            usernames = await sync_to_async(_usernames, thread_sensitive=False)(keys) if keys else {}
            deliveries = delivery_rows(found, usernames)
        if not viewers:  # the viewers' own process sends the rows; this one what it delivered
            rows, skipped = [], 0
        if rows or skipped or deliveries:
            batch = {"process": PROCESS, "events": rows, "skipped": skipped, "deliveries": deliveries}
            await sse.apublish(TAIL, batch, event="tail")

    async def _report_loop(self) -> None:
        while self.hub.active:
            await asyncio.sleep(REPORT_SECONDS)
            try:
                here = self.viewers_here()
                if here and self.hub.layer_reaches_other_processes:
                    await self._send_control({"type": "console.watch"})
                if here or self.hub.loop.time() < self.watched_until:
                    await sse.apublish(STREAMS, await stream_report(self.hub), event="streams")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("reporting streams to the console failed: %s", exc)

    async def _send_control(self, message: dict[str, Any]) -> None:
        await send_to_group(CONTROL_GROUP, message)

    async def _control_loop(self) -> None:
        await follow_group(self.hub, CONTROL_GROUP, self.on_control, "the console's control group")

    def on_control(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "console.watch":
            self.watched_until = self.hub.loop.time() + WATCH_SECONDS
        elif kind == "console.disconnect" and message.get("process") == PROCESS:
            try:
                serial = int(message["serial"])
            except (KeyError, TypeError, ValueError):
                logger.warning("ignored a malformed console.disconnect message")
                return
            _disconnect(self.hub, serial, str(message.get("reason", "")), str(message.get("by", "")))


def ensure_console(hub: ChannelHub) -> Console:
    """The hub's console work, started on first use. Call on the hub's loop."""
    console = _consoles.get(hub)
    if console is None:
        console = _consoles[hub] = Console(hub)
    console.start()
    return console


def _disconnect(hub: ChannelHub, serial: int, reason: str, by: str) -> bool:
    closed = disconnect(serial, "console", hub=hub)
    if closed:
        message = "stream %s of %s disconnected from the console by %s: %s"
        logger.info(message, serial, PROCESS, by, reason or "-")
    return closed


async def request_disconnect(process: str, serial: int, reason: str = "", by: str = "") -> str:
    """End stream ``serial`` of ``process``: "closed" here, "sent" to the other processes, or
    "gone" (this process holds no such stream and no layer reaches the others). The
    operator's ``reason`` (cut to ``REASON_CHARS``) and name ``by`` go to the log of the
    process that ends it."""
    hub = ChannelHub.current()
    reason = reason.strip()[:REASON_CHARS]
    if process == PROCESS:
        return "closed" if _disconnect(hub, serial, reason, by) else "gone"
    if not hub.layer_reaches_other_processes:
        return "gone"
    message = {"type": "console.disconnect", "process": process, "serial": serial, "reason": reason, "by": by}
    sent = await send_to_group(CONTROL_GROUP, message)
    assert sent
    return "sent"


def _on_hub_start(hub: ChannelHub) -> None:
    # With a shared layer every server process listens for disconnects and watch pings.
    if hub.layer_reaches_other_processes:
        ensure_console(hub)


def _on_stream_opened(sender: Any, *, channels: Sequence[str], **kwargs: Any) -> None:
    if TAIL in channels or STREAMS in channels:
        ensure_console(ChannelHub.current())


ChannelHub.on_start(_on_hub_start)
stream_opened.connect(_on_stream_opened, dispatch_uid="notifications.console")
