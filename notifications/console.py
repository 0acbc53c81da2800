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
published an event, so the page shows the processes that hold streams on its channel (the
ones that deliver it); an ephemeral channel keeps only its latest event, so the tail may
miss some of a fast one's; ``console.*`` itself is left out (it would tail itself).
Row ids are insert order: on PostgreSQL a row can commit after a higher one, so ids the
reader skipped are looked at again for ``GAP_SECONDS``.

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
from notifications.layer_groups import follow_group
from sse import ChannelHub
from sse.hub.subscriber import Subscriber
from sse.models import StoredEvent
from sse.signals import stream_opened
from sse.storage import current_log_id
from sse.transport.layer import get_layer
from sse.wire.cursor import channel_tag

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
    if isinstance(moment, float):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.isoformat()


def _tail_row(row: StoredEvent) -> dict[str, Any]:
    data = row.data
    return {
        "row": row.pk,
        "id": f"{channel_tag((row.channel,), current_log_id())}:{row.seq}",
        "channel": row.channel,
        "event": row.event or "message",
        "data": data[:TAIL_PAYLOAD_CHARS],
        "size": len(data.encode()),
        "truncated": len(data) > TAIL_PAYLOAD_CHARS,
        "created": _iso(row.created),
    }


def _outside_console() -> Any:
    return StoredEvent.objects.exclude(channel__startswith="console.")


def recent_events(limit: int = 20) -> list[dict[str, Any]]:
    """The newest ``limit`` events of the log, oldest first (the console page renders them)."""
    rows = list(_outside_console().order_by("-id")[:limit])
    return [_tail_row(row) for row in reversed(rows)]


def last_row_id() -> int:
    return StoredEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


class TailReader:
    """Log rows after a cursor, the newest ``TAIL_BATCH`` of them; ids skipped are looked at again."""

    def __init__(self, cursor: int) -> None:
        self.cursor = cursor
        self.gaps: dict[int, float] = {}  # row id -> when first missed

    def read(self) -> tuple[list[dict[str, Any]], int]:
        """(rows, how many newer rows were left out); sync: call in a thread."""
        now = time.monotonic()
        rows = list(_outside_console().filter(id__gt=self.cursor).order_by("-id")[:TAIL_BATCH])
        skipped = 0
        if len(rows) == TAIL_BATCH:
            skipped = _outside_console().filter(id__gt=self.cursor, id__lt=rows[-1].pk).count()
        elif rows:
            seen = {row.pk for row in rows}
            for missing in range(self.cursor + 1, rows[0].pk):
                if missing not in seen and len(self.gaps) < 4 * TAIL_BATCH:
                    self.gaps.setdefault(missing, now)
        if rows:
            self.cursor = max(self.cursor, rows[0].pk)
        self.gaps = {pk: t for pk, t in self.gaps.items() if now - t < GAP_SECONDS}
        late: list[StoredEvent] = []
        if self.gaps:
            late = list(_outside_console().filter(id__in=list(self.gaps)))
            for row in late:
                self.gaps.pop(row.pk, None)
        found = sorted([*rows, *late], key=lambda row: row.pk)
        return [_tail_row(row) for row in found], skipped


# -- open streams --------------------------------------------------------------


def stream_row(sub: Subscriber, now: float, usernames: dict[str, str]) -> dict[str, Any]:
    # Lag: how long frames have waited unwritten (0 with an empty queue), and how many.
    waiting = max(0.0, now - sub.last_write) if sub.frames else 0.0
    return {
        "process": PROCESS,
        "serial": sub.serial,
        "user": usernames.get(sub.user_key or "", sub.user_key or "anonymous"),
        "channels": list(sub.channels),
        "since": _iso(sub.opened_at),
        "bytes": sub.bytes_sent,
        "queued": len(sub.frames),
        "lag_s": round(waiting, 1),
    }


def _usernames(keys: Iterable[str]) -> dict[str, str]:
    pks = [key for key in set(keys) if key.isdigit()]
    users = get_user_model()._default_manager.filter(pk__in=pks)
    return {str(pk): name for pk, name in users.values_list("pk", get_user_model().USERNAME_FIELD)}


async def stream_report(hub: ChannelHub) -> dict[str, Any]:
    """This process's open streams (the newest ``REPORT_MAX_STREAMS``), on the hub's loop."""
    subs = sorted(hub.open_streams(), key=lambda sub: sub.opened_at, reverse=True)
    shown = subs[:REPORT_MAX_STREAMS]
    keys = [sub.user_key for sub in shown if sub.user_key]
    usernames = await sync_to_async(_usernames, thread_sensitive=False)(keys) if keys else {}
    now = hub.loop.time()
    return {
        "process": PROCESS,
        "time": time.time(),
        "total": len(subs),
        "streams": [stream_row(sub, now, usernames) for sub in shown],
    }


def online_streams(hub: ChannelHub, channels: Sequence[str]) -> tuple[int, set[str]]:
    """Streams of this process on any of ``channels``, and their readers' user keys (on the loop)."""
    wanted = set(channels)
    count = 0
    users: set[str] = set()
    for sub in hub.open_streams():
        if wanted.intersection(sub.channels):
            count += 1
            if sub.user_key:
                users.add(sub.user_key)
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
                now = self.hub.loop.time()
                if not self.hub.streams_on([TAIL]):
                    if now - self.reader_used > TAIL_IDLE_SECONDS:
                        self.reader = None  # start again from "now" when someone watches again
                    continue
                self.reader_used = now
                if self.reader is None:
                    self.reader = TailReader(await sync_to_async(last_row_id, thread_sensitive=False)())
                    continue
                rows, skipped = await sync_to_async(self.reader.read, thread_sensitive=False)()
                if rows or skipped:
                    batch = {"process": PROCESS, "events": rows, "skipped": skipped}
                    await sse.apublish(TAIL, batch, event="tail")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a DB hiccup must not end the tail for good
                logger.warning("reading the event log for the console failed: %s", exc)

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
        layer = get_layer()
        if layer is not None:
            await layer.group_send(CONTROL_GROUP, message)

    async def _control_loop(self) -> None:
        await follow_group(self.hub, CONTROL_GROUP, self.on_control, "the console's control group")

    def on_control(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "console.watch":
            self.watched_until = self.hub.loop.time() + WATCH_SECONDS
        elif kind == "console.disconnect" and message.get("process") == PROCESS:
            try:
                self.hub.close_stream(int(message["serial"]))
            except (KeyError, TypeError, ValueError):
                logger.warning("ignored a malformed console.disconnect message")


def ensure_console(hub: ChannelHub) -> Console:
    """The hub's console work, started on first use. Call on the hub's loop."""
    console = _consoles.get(hub)
    if console is None:
        console = _consoles[hub] = Console(hub)
    console.start()
    return console


async def request_disconnect(process: str, serial: int) -> str:
    """End stream ``serial`` of ``process``: "closed" here, "sent" to the other processes, or
    "gone" (this process holds no such stream and no layer reaches the others)."""
    hub = ChannelHub.current()
    if process == PROCESS:
        return "closed" if hub.close_stream(serial) else "gone"
    if not hub.layer_reaches_other_processes:
        return "gone"
    layer = get_layer()
    assert layer is not None
    message = {"type": "console.disconnect", "process": process, "serial": serial}
    await layer.group_send(CONTROL_GROUP, message)
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
