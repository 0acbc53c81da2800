"""Live staff dashboard: per-process stream figures, published once a second.

Each server process samples its own hub once a second and publishes the figures
on the ephemeral ``dashboard`` channel; the dashboard page adds up the latest
figures of every process it hears from (with REDIS_URL, every process is heard).
The same figures are served at /metrics in the Prometheus text format.

Besides the totals, each process's figures carry its recent warnings and errors (the last
20 records of the ``sse`` and ``notifications`` loggers, message text only, with every channel
name replaced by its pattern: ``chat.room.{slug}``). The sampler keeps 5 minutes of chart
points for page loads.

The busiest channels (events/s from the change of each channel group's last seq between
ticks, and the streams on each) name channels, and a staff member may see only the names
they may read themselves (a private room's name never leaks). So they never go out on the
staff-wide ``dashboard`` channel: each process shares its 10 busiest with the others over
the channel layer (group ``sse-dashboard-channels``, no stream can read it), and each
process with dashboard viewers publishes, once a second, every viewer's own list on
``dashboard.user.<pk>`` (readable by that staff member only): all processes' rows merged,
filtered with the channels' own access rules for that viewer. The page load and
``/api/sse/stats/`` filter the same way.

A process starts sampling when a stream carrying ``dashboard`` opens on it, whatever
the URL: the page's one stream is /sse/stream/, and after a server restart it
reconnects to the new process without asking for the page again.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import os
import re
import socket
import time
import weakref
from collections import Counter, deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

import sse
from notifications.channels import DASHBOARD, DASHBOARD_VIEWER_PREFIX
from sse import ChannelHub
from sse.layer_groups import follow_group, send_to_group
from sse.operator import channel_pattern, open_channels, readable
from sse.signals import stream_opened
from sse.storage import get_event_log

__all__ = [
    "PROCESS",
    "RecentErrors",
    "Sampler",
    "ensure_sampler",
    "hide_channel_names",
    "install",
    "readable_rows",
    "recent_errors",
]

logger = logging.getLogger("notifications.dashboard")

PROCESS = f"{socket.gethostname()}:{os.getpid()}"
TICK_SECONDS = 1.0
LAG_WINDOW_SECONDS = 10.0
# Five minutes of once-a-second points: the charts' time span.
HISTORY_POINTS = 300
BUSIEST_CHANNELS = 10
RECENT_ERRORS = 20
# A message longer than this is cut: the figures go out every second.
ERROR_MESSAGE_CHARS = 500
# The loggers whose warnings and errors the dashboard shows.
ERROR_LOGGERS = ("sse", "notifications")
# Where each process's busiest channels go to the others (a layer group, not an sse channel).
CHANNELS_GROUP = "sse-dashboard-channels"
# Another process's rows count this long after they came (it shares them once a second).
REMOTE_ROWS_SECONDS = 5.0
# A word of a log message that may be a channel name.
_WORD = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,79}")

_samplers: weakref.WeakKeyDictionary[ChannelHub, Sampler] = weakref.WeakKeyDictionary()


def _published_total() -> int:
    # Every publish() anywhere (server, worker, shell) is in the log shared by all processes.
    return get_event_log().published_total()


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


def hide_channel_names(message: str) -> str:
    """``message`` with every registered channel name in it replaced by its pattern.

    Recent errors reach every staff viewer; ``a stream on chat.room.hush could not start``
    would name a private room to staff who are not in it.
    """

    def pattern_of(match: re.Match[str]) -> str:
        word = match.group(0)
        name = word.rstrip(".")  # the end of a sentence
        found = channel_pattern(name) if "." in name else None
        return word if found is None else found + word[len(name) :]

    return _WORD.sub(pattern_of, message)


async def readable_rows(user: Any, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows (``{"channel": name, ...}``) whose channel ``user`` may read, by the channels'
    own access rules; a rule that raises (``ChannelNotFound`` for a private room) is a no."""
    if not rows:
        return []
    allowed = await readable(user, [row["channel"] for row in rows])
    return [row for row, ok in zip(rows, allowed, strict=True) if ok]


def _merge_rows(lists: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every process serving a channel sees the same events: events/s is the busiest
    process's figure, streams add up. All of them, busiest first."""
    merged: dict[str, dict[str, Any]] = {}
    for rows in lists:
        for row in rows:
            name = row["channel"]
            seen = merged.setdefault(name, {"channel": name, "events_per_s": 0.0, "streams": 0})
            seen["events_per_s"] = max(seen["events_per_s"], row["events_per_s"])
            seen["streams"] += row["streams"]
    return sorted(merged.values(), key=lambda row: (-row["events_per_s"], -row["streams"], row["channel"]))


def _staff_users(pks: Sequence[str]) -> dict[str, Any]:
    users = get_user_model()._default_manager.filter(pk__in=pks, is_active=True, is_staff=True)
    return {str(user.pk): user for user in users}


class RecentErrors(logging.Handler):
    """The last few WARNING-and-above records of this process, message text only.

    Nothing else of a record is kept (no arguments, no traceback): sse redacts what it
    puts in its messages, and the figures carrying these reach every staff viewer.
    """

    def __init__(self, size: int = RECENT_ERRORS) -> None:
        super().__init__(level=logging.WARNING)
        self.records: deque[dict[str, Any]] = deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not take the logging call down
            message = str(record.msg)
        message = hide_channel_names(message)
        if len(message) > ERROR_MESSAGE_CHARS:
            message = message[: ERROR_MESSAGE_CHARS - 1] + "…"
        entry = {
            "time": record.created,
            "at": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "logger": record.name,
            "level": record.levelname,
            "message": message,
            "process": PROCESS,
        }
        with self.lock or contextlib.nullcontext():
            self.records.append(entry)

    def newest_first(self) -> list[dict[str, Any]]:
        # Records arrive from any thread; the lock keeps the copy whole.
        with self.lock or contextlib.nullcontext():
            return list(reversed(self.records))


recent_errors = RecentErrors()


class Sampler:
    """The dashboard figures of one hub (one server process). Lives on the hub's loop."""

    def __init__(self, hub: ChannelHub) -> None:
        self.hub = hub
        self.task: asyncio.Task[None] | None = None
        self.lags: deque[tuple[float, float]] = deque()
        self.previous: tuple[float, int, int, int | None] | None = None
        self.rates = {"published_per_s": 0.0, "received_per_s": 0.0, "delivered_per_s": 0.0}
        self.published_total: int | None = None
        # The last minute of published figures, so the page renders its charts on load.
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY_POINTS)
        # Each channel group's last_seq at the previous tick: events/s is its change. The
        # membership is kept so a channel closed and joined again (last_seq jumps to the
        # log's head) is not taken for a burst.
        self.seqs: dict[str, tuple[Any, int]] = {}
        self.channel_rates: list[dict[str, Any]] = []
        # Other processes' busiest channels: process -> (loop time heard, rows).
        self.remote_rows: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self.listener: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None or self.task.done():
            self.task = self.hub.loop.create_task(self._run())
        if self.hub.layer_reaches_other_processes and (self.listener is None or self.listener.done()):
            self.listener = self.hub.loop.create_task(self._listen())

    def should_publish(self) -> bool:
        # In-memory layer: only this process's viewers can see the figures. With a
        # shared layer a viewer may sit on another process, so publish while serving.
        stats = self.hub.stats()
        if stats.streams_by_channel.get(DASHBOARD):
            return True
        return self.hub.layer_reaches_other_processes and stats.streams > 0

    async def _run(self) -> None:
        hub = self.hub
        while hub.active:
            await asyncio.sleep(TICK_SECONDS)
            try:
                if not self.should_publish():
                    self.previous = None  # rates restart from the next watched tick
                    continue
                await self.refresh()
                figures = self.figures()
                self.history.append(
                    {
                        "time": figures["time"],  # the page places each point by it
                        "streams": figures["streams"],
                        "delivered": figures["delivered_per_s"],
                        "lag": figures["lag_p99_ms"] or 0,
                    }
                )
                await sse.apublish(DASHBOARD, figures, event="metrics")
                await self.share_channels()
                await self.publish_viewer_channels()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a DB hiccup must not end the dashboard for good
                logger.warning("publishing dashboard figures failed: %s", exc)

    async def refresh(self, *, rates: bool = True) -> None:
        """Take the counters (on the hub's loop); ``rates``: also advance the per-second rates
        (only the once-a-second tick does, so a page view does not skew them)."""
        hub = self.hub
        try:
            self.published_total = await sync_to_async(_published_total, thread_sensitive=False)()
        except Exception as exc:
            logger.warning("counting published events failed: %s", exc)
            self.published_total = None
        now = hub.loop.time()
        self.lags.extend((now, lag) for lag in hub.take_delivery_lags())
        while self.lags and self.lags[0][0] < now - LAG_WINDOW_SECONDS:
            self.lags.popleft()
        if not rates:
            return
        stats = hub.stats()
        events, delivered = stats.received, stats.delivered
        if self.previous is not None:
            then, old_events, old_delivered, old_published = self.previous
            dt = max(now - then, 1e-6)
            self.rates["received_per_s"] = (events - old_events) / dt
            self.rates["delivered_per_s"] = (delivered - old_delivered) / dt
            if old_published is not None and self.published_total is not None:
                self.rates["published_per_s"] = max(0, self.published_total - old_published) / dt
        self.sample_channels(now - self.previous[0] if self.previous is not None else None)
        self.previous = (now, events, delivered, self.published_total)

    def sample_channels(self, dt: float | None) -> None:
        """The busiest channels of this process: events/s over the last ``dt`` seconds (None:
        first tick, rates start at 0), and the open streams on each."""
        seqs: dict[str, tuple[Any, int]] = {}
        rows: list[dict[str, Any]] = []
        for channel in open_channels(self.hub):
            name, seq = channel.channel, channel.last_seq
            seqs[name] = (channel.membership, seq)
            before = self.seqs.get(name)
            rate = 0.0
            if dt is not None and before is not None and before[0] is channel.membership:
                rate = max(0, seq - before[1]) / max(dt, 1e-6)
            rows.append({"channel": name, "events_per_s": round(rate, 2), "streams": channel.streams})
        self.seqs = seqs
        # A bounded heap, not a sort: a process may hold thousands of channels (one per user).
        self.channel_rates = heapq.nsmallest(
            BUSIEST_CHANNELS, rows, key=lambda row: (-row["events_per_s"], -row["streams"], row["channel"])
        )

    def figures(self) -> dict[str, Any]:
        """This process's figures: the ``metrics`` event of the dashboard channel."""
        stats = self.hub.stats()
        by_kind: Counter[str] = Counter()
        for name, streams in stats.streams_by_channel.items():
            by_kind[name.split(".", 1)[0]] += streams
        lags = [lag for _, lag in self.lags]
        p50, p99 = _quantile(lags, 0.5), _quantile(lags, 0.99)
        return {
            "process": PROCESS,
            "time": time.time(),
            "streams": stats.streams,
            "by_kind": dict(sorted(by_kind.items())),
            "published_per_s": round(self.rates["published_per_s"], 2),
            "received_per_s": round(self.rates["received_per_s"], 2),
            "delivered_per_s": round(self.rates["delivered_per_s"], 2),
            "lag_p50_ms": None if p50 is None else round(p50 * 1000, 2),
            "lag_p99_ms": None if p99 is None else round(p99 * 1000, 2),
            "lag_events": len(lags),
            "slow_disconnects": stats.slow_disconnects,
            "resumes": stats.resumes,
            "resets": stats.resets,
            "conflated": stats.conflated,
            "published_total": self.published_total,
            "received_total": stats.received,
            "delivered_total": stats.delivered,
            "errors": recent_errors.newest_first(),
        }

    # -- the busiest channels, per viewer ------------------------------------------------

    def merged_channels(self) -> list[dict[str, Any]]:
        """This process's busiest channels and those other processes shared lately, merged."""
        now = self.hub.loop.time()
        self.remote_rows = {
            process: (heard, rows)
            for process, (heard, rows) in self.remote_rows.items()
            if now - heard < REMOTE_ROWS_SECONDS
        }
        return _merge_rows([self.channel_rates, *(rows for _, rows in self.remote_rows.values())])

    async def channels_for(self, user: Any) -> list[dict[str, Any]]:
        """The busiest channels ``user`` may read, of every process heard from."""
        return (await readable_rows(user, self.merged_channels()))[:BUSIEST_CHANNELS]

    async def share_channels(self) -> None:
        if not self.hub.layer_reaches_other_processes:
            return
        message = {"type": "dashboard.channels", "process": PROCESS, "rows": self.channel_rates}
        await send_to_group(CHANNELS_GROUP, message)

    async def publish_viewer_channels(self) -> None:
        """Each staff member watching here gets the busiest channels they may read."""
        prefix = DASHBOARD_VIEWER_PREFIX
        names = [channel.channel for channel in open_channels(self.hub)]
        pks = [name[len(prefix) :] for name in names if name.startswith(prefix)]
        if not pks:
            return
        users = await sync_to_async(_staff_users, thread_sensitive=False)(pks)
        for pk in pks:
            user = users.get(pk)
            if user is None:
                continue  # no longer staff (their stream loses the channel on its re-check)
            rows = await self.channels_for(user)
            payload = {"process": PROCESS, "time": time.time(), "channels": rows}
            await sse.apublish(f"{DASHBOARD_VIEWER_PREFIX}{pk}", payload, event="channels")

    async def _listen(self) -> None:
        """Other processes' busiest channels, from the layer group (as the console's control loop)."""
        await follow_group(self.hub, CHANNELS_GROUP, self._on_rows, "the dashboard's channel group")

    def _on_rows(self, message: dict[str, Any]) -> None:
        process, rows = message.get("process"), message.get("rows")
        if isinstance(process, str) and process != PROCESS and isinstance(rows, list):
            self.remote_rows[process] = (self.hub.loop.time(), rows)


def ensure_sampler(hub: ChannelHub) -> Sampler:
    """The hub's sampler, started on first use. Call on the hub's loop."""
    sampler = _samplers.get(hub)
    if sampler is None:
        sampler = _samplers[hub] = Sampler(hub)
    sampler.start()
    return sampler


def _on_hub_start(hub: ChannelHub) -> None:
    # With a shared layer every server process must report, even with no viewer of its own.
    if hub.layer_reaches_other_processes:
        ensure_sampler(hub)


def _on_stream_opened(sender: Any, *, channels: Sequence[str], **kwargs: Any) -> None:
    # Sent on the hub's loop once the stream is subscribed: its first tick already counts it.
    if DASHBOARD in channels:
        ensure_sampler(ChannelHub.current())


def install() -> None:
    for name in ERROR_LOGGERS:
        log = logging.getLogger(name)
        if recent_errors not in log.handlers:
            log.addHandler(recent_errors)
    ChannelHub.on_start(_on_hub_start)
    stream_opened.connect(_on_stream_opened, dispatch_uid="notifications.dashboard.sampler")
