"""A hub's inbox: events handed in from other threads, fanned out on its loop a slice per turn."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable

__all__ = ["Inbox"]

logger = logging.getLogger("sse.hub")

_SLICE = 256

# (channel, seq, event name, data, publish time, check, row): as ChannelHub.on_event takes them.
type Arrival = tuple[str, int, str | None, str, float | None, int | None, int | None]


class Inbox:
    """Events from other threads wait here, and are fanned out a slice per loop turn: one
    wake-up (one write) per stream carries many events of a burst, and streams run between
    slices, so their bounded queues never see a whole burst."""

    __slots__ = ("_events", "_lock", "_scheduled", "loop", "on_event")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_event: Callable[[str, int, str | None, str, float | None, int | None, int | None], None],
    ) -> None:
        self.loop = loop
        self.on_event = on_event
        self._events: deque[Arrival] = deque()
        self._lock = threading.Lock()
        self._scheduled = False

    def put(
        self,
        channel: str,
        seq: int,
        event: str | None,
        data: str,
        ts: float | None = None,
        check: int | None = None,
        row: int | None = None,
    ) -> None:
        """Hand an event in (any thread); ``ts``: its publish time, ``check``: its log check,
        ``row``: its number in the log across channels."""
        self._events.append((channel, seq, event, data, ts, check, row))
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self.loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # loop closed meanwhile
            pass

    def _drain(self) -> None:
        events = self._events
        try:
            for _ in range(min(len(events), _SLICE)):
                self.on_event(*events.popleft())
        except Exception:
            # Never leave the inbox stuck "scheduled"; the log still has the event.
            logger.exception("fanning out an event failed")
        with self._lock:
            if not events:
                # Whatever arrives from now on schedules a new drain.
                self._scheduled = False
                return
        # More to do: after the streams woken by this slice have written.
        self.loop.call_soon(self._drain)
