"""The event log from async code: a hub's small thread pool, paged reads, trimming."""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import random
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import Executor, Future
from typing import Any

from django.db import connections

from sse.conf import conf
from sse.storage import get_event_log, learn_log_id
from sse.storage.base import LoggedEvent
from sse.wire.cursor import LogPosition
from sse.wire.encoding import encode_body

__all__ = ["LOG_PAGE", "LogThreads", "ReplayPage", "trim_log"]

logger = logging.getLogger("sse.log")

LOG_PAGE = 1000
# About this much event data is read from the log at once: a few large events
# must not become one huge allocation.
_PAGE_BYTES = 1024 * 1024


class _SharedRead:
    """A read that callers asking the same may join until it starts."""

    __slots__ = ("future", "started")

    def __init__(self) -> None:
        self.started = False
        self.future: asyncio.Future[Any] | None = None


type _Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class _DatabaseThreads(Executor):
    """A few threads for blocking database calls; each closes its connections when it stops.

    A ``ThreadPoolExecutor``'s threads keep theirs open after ``shutdown(wait=False)`` until
    the garbage collector finds them, and an idle one keeps its own as long as the process
    lives: a test run whose event loops (and hubs) come and go could then not drop its
    PostgreSQL test database ("is being accessed by other users"). Daemon threads, as
    nothing they do must hold up the process's exit.
    """

    def __init__(self, workers: int, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._workers = workers
        self._name = name
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopped = False

    def submit[T](self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._stopped:
                raise RuntimeError("the event log's threads are stopped (their hub is gone)")
            self._jobs.put((future, fn, args, kwargs))
            if len(self._threads) < self._workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        return future

    def _work(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                future, fn, args, kwargs = job
                del job
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
                del future, fn, args, kwargs
        finally:
            connections.close_all()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the threads once the jobs already given are done; each closes its connections."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        if wait:
            for thread in threads:
                thread.join()


class LogThreads:
    """Blocking log calls of one hub, on two threads of their own (``sse-log``).

    The threads stop, closing their database connections, when the hub is abandoned or
    its event loop ends (``asyncio.run()`` cancelling what is left, as a test's loop does).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._executor = _DatabaseThreads(2, "sse-log")
        self._average_size = 16 * 1024.0  # cautious until sizes are seen: events may be large
        self._shared: dict[Hashable, _SharedRead] = {}
        self._watch: asyncio.Task[None] | None = None

    async def run[T](self, fn: Callable[..., T], *args: Any) -> T:
        if self._watch is None:
            self._watch = self.loop.create_task(self._stop_with_the_loop())
        return await self.loop.run_in_executor(self._executor, functools.partial(_db_call, fn, *args))

    async def _stop_with_the_loop(self) -> None:
        # Cancelled when the loop ends (asyncio.run() and asgiref's async_to_sync cancel the
        # tasks left) or when shutdown() is called: either way the threads are done with.
        try:
            await asyncio.Event().wait()
        finally:
            self._executor.shutdown(wait=False)

    async def shared[T](self, key: Hashable, fn: Callable[..., T], *args: Any) -> T:
        """``run(fn, *args)``, joined by every call with the same ``key`` made before it starts.

        Streams resuming together (a reconnect storm) ask the log the same questions: one
        read answers them all. Only a read that has not started yet is joined, so its
        answer is never older than the joiner's own request (a stream subscribes before
        it reads, and must not miss what was published in between).
        """
        read = self._shared.get(key)
        if read is None or read.started or read.future is None:
            read = self._shared[key] = _SharedRead()

            def call() -> T:
                read.started = True  # from here on, a new caller starts a read of its own
                return fn(*args)

            read.future = asyncio.ensure_future(self.run(call))
            read.future.add_done_callback(lambda _: self._forget(key, read))
        # Shielded: a caller that goes away does not cancel the read for the others.
        result: T = await asyncio.shield(read.future)
        return result

    def _forget(self, key: Hashable, read: _SharedRead) -> None:
        if self._shared.get(key) is read:
            del self._shared[key]

    async def heads(self, channels: Sequence[str]) -> dict[str, LogPosition]:
        """The last event of each channel, with its check (one read: ``EventLog.positions``)."""
        return await self.run(_heads, channels)

    async def first_seqs(self, channels: Sequence[str]) -> dict[str, int]:
        return await self.run(get_event_log().first_seqs, channels)

    async def bounds(self, channels: Sequence[str]) -> tuple[dict[str, LogPosition], dict[str, int]]:
        """The heads (with their checks) and first kept seqs of ``channels`` (read-only:
        shared with others asking)."""
        return await self.shared(("bounds", tuple(channels)), _bounds, tuple(channels))

    async def checks_at(self, points: Mapping[str, int]) -> dict[str, int | None]:
        """``EventLog.checks_at``, shared with others asking about the same points."""
        key = ("checks", tuple(sorted(points.items())))
        return await self.shared(key, get_event_log().checks_at, dict(points))

    async def read_page(
        self, channel: str, after: int, at_most: int = LOG_PAGE
    ) -> tuple[list[LoggedEvent], bool]:
        """About a megabyte of events after ``after``; True with them when the log may hold more."""
        limit = self._limit(at_most)
        events = await self.run(get_event_log().read, channel, after, limit)
        self._learn_size(events)
        return events, len(events) >= limit

    def _limit(self, at_most: int, page_bytes: int = _PAGE_BYTES) -> int:
        return max(1, min(at_most, int(page_bytes / self._average_size)))

    def _learn_size(self, events: list[LoggedEvent]) -> None:
        if events:
            self._learn_average(sum(len(ev.data) for ev in events), len(events))

    def _learn_average(self, total: int, count: int) -> None:
        if count:
            self._average_size = max(64.0, (self._average_size + total / count) / 2)

    async def read_merged_page(
        self, after: Mapping[str, int], at_most: int = LOG_PAGE
    ) -> tuple[list[LoggedEvent], bool]:
        """As :meth:`read_page`, over several channels, in the order they were published."""
        limit = self._limit(at_most)
        events = await self.run(get_event_log().read_merged, dict(after), limit)
        self._learn_size(events)
        return events, len(events) >= limit

    async def read_replay_page(
        self, after: Mapping[str, int], at_most: int = LOG_PAGE, page_bytes: int = _PAGE_BYTES
    ) -> ReplayPage:
        """As :meth:`read_merged_page`, with each event's encoded body, shared with others asking;
        about ``page_bytes`` of events.

        Read-only for its callers: the same page may go to every stream resuming from there.
        """
        limit = self._limit(at_most, page_bytes)
        page = await self.shared(
            ("replay", tuple(sorted(after.items())), limit), _replay_page, dict(after), limit
        )
        if not page.learned:
            page.learned = True
            self._learn_average(page.nbytes, len(page.bodies))
        return page

    async def trim_forever(self) -> None:
        while True:
            await asyncio.sleep(conf.SSE_LOG_TRIM_INTERVAL_SECONDS * (0.5 + random.random()))
            try:
                await self.run(trim_log)
            except Exception as exc:
                logger.warning("trimming the event log failed: %s", exc)

    def shutdown(self) -> None:
        """Stop the threads after the calls already made; each closes its database connections."""
        self._executor.shutdown(wait=False)
        if self._watch is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._watch.cancel)


def _heads(channels: Sequence[str]) -> dict[str, LogPosition]:
    # A hub reads heads before its streams' first ids: by then they name the log.
    learn_log_id()
    return get_event_log().positions(channels)


class ReplayPage:
    """A replay read: per event its channel, seq, name and check (None: stored without one),
    and its encoded body; whether the log may hold more. The events' data is not kept: the
    bodies carry it, encoded."""

    __slots__ = ("bodies", "events", "learned", "more", "nbytes")

    def __init__(
        self, events: list[tuple[str, int, str | None, int | None]], bodies: list[bytes], more: bool
    ) -> None:
        self.events = events
        self.bodies = bodies
        self.more = more
        self.nbytes = sum(map(len, bodies))
        self.learned = False


def _replay_page(after: dict[str, int], limit: int) -> ReplayPage:
    events = get_event_log().read_merged(after, limit)
    # Encoded once here, off the event loop, for every stream this page goes to. Each row
    # brings strings of its own: one object per channel and event name for the whole page.
    channels: dict[str, str] = {}
    kinds: dict[str | None, str | None] = {}
    heads = [
        (channels.setdefault(ev.channel, ev.channel), ev.seq, kinds.setdefault(ev.event, ev.event), ev.check)
        for ev in events
    ]
    bodies = [encode_body(ev.event, ev.data) for ev in events]
    more = len(events) >= limit
    del events
    return ReplayPage(heads, bodies, more)


def _bounds(channels: tuple[str, ...]) -> tuple[dict[str, LogPosition], dict[str, int]]:
    return _heads(channels), get_event_log().first_seqs(channels)


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
