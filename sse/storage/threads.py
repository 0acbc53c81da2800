"""The event log from async code: a hub's small thread pool, paged reads, trimming."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connections

from sse.conf import conf
from sse.storage import get_event_log, learn_log_id
from sse.storage.base import LoggedEvent

__all__ = ["LOG_PAGE", "LogThreads", "trim_log"]

logger = logging.getLogger("sse.log")

LOG_PAGE = 1000
# About this much event data is read from the log at once: a few large events
# must not become one huge allocation.
_PAGE_BYTES = 1024 * 1024


class LogThreads:
    """Blocking log calls of one hub, on two threads of their own (``sse-log``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sse-log")
        self._average_size = 16 * 1024.0  # cautious until sizes are seen: events may be large

    async def run[T](self, fn: Callable[..., T], *args: Any) -> T:
        return await self.loop.run_in_executor(self._executor, functools.partial(_db_call, fn, *args))

    async def heads(self, channels: Sequence[str]) -> dict[str, int]:
        return await self.run(_heads, channels)

    async def first_seqs(self, channels: Sequence[str]) -> dict[str, int]:
        return await self.run(get_event_log().first_seqs, channels)

    async def read_page(
        self, channel: str, after: int, at_most: int = LOG_PAGE
    ) -> tuple[list[LoggedEvent], bool]:
        """About a megabyte of events after ``after``; True with them when the log may hold more."""
        limit = self._limit(at_most)
        events = await self.run(get_event_log().read, channel, after, limit)
        self._learn_size(events)
        return events, len(events) >= limit

    def _limit(self, at_most: int) -> int:
        return max(1, min(at_most, int(_PAGE_BYTES / self._average_size)))

    def _learn_size(self, events: list[LoggedEvent]) -> None:
        if events:
            size = sum(len(ev.data) for ev in events) / len(events)
            self._average_size = max(64.0, (self._average_size + size) / 2)

    async def read_merged_page(
        self, after: Mapping[str, int], at_most: int = LOG_PAGE
    ) -> tuple[list[LoggedEvent], bool]:
        """As :meth:`read_page`, over several channels, in the order they were published."""
        limit = self._limit(at_most)
        events = await self.run(get_event_log().read_merged, dict(after), limit)
        self._learn_size(events)
        return events, len(events) >= limit

    async def trim_forever(self) -> None:
        while True:
            await asyncio.sleep(conf.SSE_LOG_TRIM_INTERVAL_SECONDS * (0.5 + random.random()))
            try:
                await self.run(trim_log)
            except Exception as exc:
                logger.warning("trimming the event log failed: %s", exc)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False)


def _heads(channels: Sequence[str]) -> dict[str, int]:
    # A hub reads heads before its streams' first ids: by then they name the log.
    learn_log_id()
    return get_event_log().heads(channels)


def _db_call[T](fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(*args)
    except Exception:
        # A broken connection must not stick to this pool thread.
        connections.close_all()
        raise


def trim_log() -> int:
    """Delete what is past retention (``SSE_LOG_MAX_AGE_SECONDS``, ``SSE_LOG_MAX_EVENTS_PER_CHANNEL``)."""
    return get_event_log().trim(
        max_age_seconds=conf.SSE_LOG_MAX_AGE_SECONDS,
        max_events_per_channel=conf.SSE_LOG_MAX_EVENTS_PER_CHANNEL,
    )
