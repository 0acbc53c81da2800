"""Live staff dashboard: per-process stream figures, published once a second.

Each server process samples its own hub once a second and publishes the figures
on the ephemeral ``dashboard`` channel; the dashboard page adds up the latest
figures of every process it hears from (with REDIS_URL, every process is heard).
The same figures are served at /metrics in the Prometheus text format.

Besides the totals, each process's figures carry its busiest channels (events/s from the
change of each channel group's last seq between ticks, and the streams on each) and its
recent warnings and errors (the last 20 records of the ``sse`` and ``notifications``
loggers, message text only). The sampler keeps 5 minutes of chart points for page loads.

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
import socket
import time
import weakref
from collections import Counter, deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async

import sse
from notifications.channels import DASHBOARD
from sse import ChannelHub
from sse.signals import stream_opened
from sse.storage import get_event_log

__all__ = ["PROCESS", "RecentErrors", "Sampler", "ensure_sampler", "install", "recent_errors"]

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
        # group itself is kept so a group closed and joined again (last_seq jumps to the
        # log's head) is not taken for a burst.
        self.seqs: dict[str, tuple[Any, int]] = {}
        self.channel_rates: list[dict[str, Any]] = []

    def start(self) -> None:
        if self.task is None or self.task.done():
            self.task = self.hub.loop.create_task(self._run())

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
                        "streams": figures["streams"],
                        "delivered": figures["delivered_per_s"],
                        "lag": figures["lag_p99_ms"] or 0,
                    }
                )
                await sse.apublish(DASHBOARD, figures, event="metrics")
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
        for name, group in list(self.hub.groups.items()):
            seq = group.last_seq
            seqs[name] = (group, seq)
            before = self.seqs.get(name)
            rate = 0.0
            if dt is not None and before is not None and before[0] is group:
                rate = max(0, seq - before[1]) / max(dt, 1e-6)
            rows.append({"channel": name, "events_per_s": round(rate, 2), "streams": len(group.members)})
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
            "channels": self.channel_rates,
            "errors": recent_errors.newest_first(),
        }


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
