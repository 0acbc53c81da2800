"""ReplayBudget: long replays admitted a few at a time, per user and per process.

A replay that needs more than its first page (a client far behind: an early id, a long
outage) reads the rest of the log page by page, and every page it holds, encodes and
sends costs the whole process memory and event-loop time. One user's clients resuming
from early ids all at once (150 replays of 30,000 events) would otherwise take the
process from everyone else. So a long replay first takes a slot of its user
(``SSE_REPLAYS_PER_USER``), then one of the process (``SSE_REPLAYS_PER_PROCESS``); the
others wait their turn, first come first served, with heartbeats, subscribed (live
events are held meanwhile, within the stream's queue bounds, as during any replay).
Waiting sends nothing but comments, so a client that gives up and comes back resumes
from the same id: nothing is lost, doubled or reordered.

Admitted replays read and encode their pages one at a time, in turn: however many
run, they keep at most one log thread busy, and the event loop sends what they read
between everyone else's work. ``SSE_REPLAY_SHARE`` below 1 adds a rest after each page
(as long as the page took, times (1 - share) / share): together they then take at most
that share of the process's time.

Once the long replays are over, the memory they used is given back to the system
(glibc's ``malloc_trim``: freed memory stays with the process otherwise).

Short replays (what a reconnect after a blip, or a restart, misses) fit in their first
page and never wait: a reconnect storm is not serialised here.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import sys
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from typing import TYPE_CHECKING

from sse.conf import conf
from sse.wire.encoding import HEARTBEAT

if TYPE_CHECKING:
    from sse.hub.subscriber import Subscriber

__all__ = ["ReplayBudget", "ReplayTicket"]

logger = logging.getLogger("sse.hub")

# Seconds without a long replay after which the memory they used is given back.
_TRIM_AFTER = 2.0


def _find_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None (another C library, another system)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


_malloc_trim = _find_malloc_trim()


class ReplayBudget:
    """The long replays of one hub: how many run, per user and in all, and who waits."""

    def __init__(self) -> None:
        self.running = 0
        self.by_user: dict[str, int] = {}
        # Waiting replays: those of each user for one of its slots, then all of them for
        # one of the process's. Granted slots are handed over in arrival order.
        self._user_queues: dict[str, deque[asyncio.Future[None]]] = {}
        self._queue: deque[asyncio.Future[None]] = deque()
        #: Replays that had to wait their turn (for operators and tests).
        self.waited = 0
        # One page read and encoded at a time, then a rest (the share).
        self._lane = asyncio.Lock()
        self._rest_until = 0.0
        self._trim: asyncio.TimerHandle | None = None

    def ticket(self, user_key: str | None) -> ReplayTicket:
        return ReplayTicket(self, user_key)

    @property
    def waiting(self) -> int:
        """Replays waiting for a slot, of their user's or of the process's."""
        return len(self._queue) + sum(len(q) for q in self._user_queues.values())

    def _grant_process(self) -> None:
        limit = conf.SSE_REPLAYS_PER_PROCESS
        queue = self._queue
        while queue and (limit <= 0 or self.running < limit):
            waiter = queue.popleft()
            if not waiter.done():
                self.running += 1
                waiter.set_result(None)

    def _grant_user(self, key: str) -> None:
        limit = conf.SSE_REPLAYS_PER_USER
        queue = self._user_queues.get(key)
        while queue and (limit <= 0 or self.by_user.get(key, 0) < limit):
            waiter = queue.popleft()
            if not waiter.done():
                self.by_user[key] = self.by_user.get(key, 0) + 1
                waiter.set_result(None)
        if queue is not None and not queue:
            del self._user_queues[key]

    def _leave_user(self, key: str) -> None:
        left = self.by_user[key] - 1
        if left:
            self.by_user[key] = left
        else:
            del self.by_user[key]
        self._grant_user(key)

    def _leave_process(self) -> None:
        self.running -= 1
        self._grant_process()

    @asynccontextmanager
    async def lane(self, loop: asyncio.AbstractEventLoop) -> AsyncIterator[None]:
        """Read and encode one page of an admitted replay: in turn, and within the share.

        Held for the page's work only (not while its client reads it); the next page, of
        any replay, starts after a rest as long as this work took times (1 - share) / share.
        """
        async with self._lane:
            rest = self._rest_until - loop.time()
            if rest > 0:
                await asyncio.sleep(rest)
            started = loop.time()
            try:
                yield
            finally:
                share = conf.SSE_REPLAY_SHARE
                now = loop.time()
                self._rest_until = now + (now - started) * (1 - share) / share if 0 < share < 1 else now
                self._trim_later(loop)

    def _trim_later(self, loop: asyncio.AbstractEventLoop) -> None:
        """Give the memory back once no long replay has read a page for a while."""
        if _malloc_trim is None:
            return
        if self._trim is not None:
            self._trim.cancel()
        self._trim = loop.call_later(_TRIM_AFTER, self._trim_now, loop)

    def _trim_now(self, loop: asyncio.AbstractEventLoop) -> None:
        self._trim = None
        if self.running or self._lane.locked():
            self._trim_later(loop)  # a long replay is still going: after it
            return
        # Off the loop: it walks the heap (milliseconds).
        loop.run_in_executor(None, _give_memory_back).add_done_callback(_logged)


class ReplayTicket:
    """One replay's place in the budget: ``await``-free until it needs a second page."""

    __slots__ = ("budget", "left", "process_slot", "user_key", "user_slot")

    def __init__(self, budget: ReplayBudget, user_key: str | None) -> None:
        self.budget = budget
        self.user_key = user_key
        # A stream of no user (a token minted for no one) has only the process's cap.
        self.user_slot = user_key is None
        self.process_slot = False
        self.left = False

    @property
    def admitted(self) -> bool:
        return self.user_slot and self.process_slot

    async def admit(self, sub: Subscriber) -> AsyncGenerator[bytes, None]:
        """Take a slot of the user, then one of the process; meanwhile yield heartbeats.

        Ends admitted, or as soon as ``sub`` is closed (the caller looks at ``sub.closed``).
        """
        budget = self.budget
        if not self.user_slot:
            key = self.user_key
            assert key is not None
            limit = conf.SSE_REPLAYS_PER_USER
            queue = budget._user_queues.get(key)
            if not queue and (limit <= 0 or budget.by_user.get(key, 0) < limit):
                budget.by_user[key] = budget.by_user.get(key, 0) + 1
                self.user_slot = True
            else:
                budget.waited += 1
                async with aclosing(self._wait(sub, budget._user_queues.setdefault(key, deque()))) as beats:
                    async for beat in beats:
                        yield beat
                if not self.user_slot:
                    return
        if not self.process_slot and not sub.closed:
            limit = conf.SSE_REPLAYS_PER_PROCESS
            if not budget._queue and (limit <= 0 or budget.running < limit):
                budget.running += 1
                self.process_slot = True
            else:
                budget.waited += 1
                async with aclosing(self._wait(sub, budget._queue)) as beats:
                    async for beat in beats:
                        yield beat

    async def _wait(self, sub: Subscriber, queue: deque[asyncio.Future[None]]) -> AsyncGenerator[bytes, None]:
        budget = self.budget
        loop = sub.loop
        granted: asyncio.Future[None] = loop.create_future()
        queue.append(granted)
        try:
            while not granted.done() and not sub.closed:
                if sub.take_heartbeat():
                    yield HEARTBEAT
                    continue
                # Woken by the grant, by the stream's close, or by a heartbeat the hub's one timer
                # queued for it (Subscriber.close and Subscriber.beat wake its waiter).
                woken = sub.waiter = loop.create_future()
                try:
                    await asyncio.wait((granted, woken), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sub.waiter = None
        finally:
            # A slot granted is this ticket's even if its stream went away meanwhile:
            # leave() hands it on. One not granted yet is given up (skipped when granting).
            if granted.done() and not granted.cancelled():
                if queue is budget._queue:
                    self.process_slot = True
                else:
                    self.user_slot = True
                if self.left:  # the replay ended first: hand the slot on at once
                    self.leave()
            else:
                # Not granted: out of the queue (queues hold only replays still waiting).
                granted.cancel()
                queue.remove(granted)
                if (
                    not queue
                    and self.user_key is not None
                    and budget._user_queues.get(self.user_key) is queue
                ):
                    del budget._user_queues[self.user_key]

    def leave(self) -> None:
        """Give back what this ticket holds (once; called when the replay ends, however)."""
        self.left = True
        budget = self.budget
        if self.process_slot:
            self.process_slot = False
            budget._leave_process()
        if self.user_slot and self.user_key is not None:
            self.user_slot = False
            budget._leave_user(self.user_key)


def _give_memory_back() -> None:
    assert _malloc_trim is not None
    _malloc_trim(0)


def _logged(done: asyncio.Future[None]) -> None:
    if not done.cancelled() and done.exception() is not None:
        logger.warning("giving memory back failed: %s", done.exception())
