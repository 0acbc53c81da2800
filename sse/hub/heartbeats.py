"""Heartbeats and lifetimes: one timer per hub for every stream, the hub's own and any other.

A stream that wrote nothing for ``SSE_HEARTBEAT_SECONDS`` (or its own interval) gets a
comment, so proxies keep the connection and clients see it alive. One timer serves all
of a hub's streams (a task per stream would wake thousands of times as often); a stream
that is not the hub's (``EventStreamResponse`` over an app's own source) joins the same
timer with :meth:`Heartbeats.beating`; a hub's stream whose replay waits its turn sends the
beats queued for it (``Subscriber.take_heartbeat``). The hub's streams' deadlines (lifetimes,
credential expiry) are checked on the same tick.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, Collection
from typing import Any, Protocol

from sse.conf import conf
from sse.wire.encoding import HEARTBEAT

__all__ = ["Beating", "Heartbeats", "Timed"]


class Beating(Protocol):
    """A stream the timer keeps alive: ``beat(now)`` when nothing was written for an interval."""

    last_write: float

    def beat(self, now: float) -> None: ...


class Timed(Beating, Protocol):
    """A hub's stream: a beat when idle, and an end at its ``deadline`` (``expire()``)."""

    @property
    def deadline(self) -> float | None: ...
    def expire(self) -> None: ...


class Heartbeats:
    """A hub's one timer: every tick, each stream past its deadline
    ends and each idle one gets a beat.

    ``streams``: the hub's own streams (its set, followed as it changes), on
    ``SSE_HEARTBEAT_SECONDS``; others :meth:`join` with an interval of their own, or none.
    """

    __slots__ = ("loop", "members", "streams", "task")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        streams: Collection[Timed],
    ) -> None:
        self.loop = loop
        self.streams = streams
        #: Streams that are not the hub's, with their own interval (None: the setting's).
        self.members: dict[Beating, float | None] = {}
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the timer (once: a stopped hub's timer stays stopped)."""
        if self.task is None:
            self.task = self.loop.create_task(self._run())

    def join(self, member: Beating, interval: float | None = None) -> None:
        self.members[member] = interval

    def leave(self, member: Beating) -> None:
        self.members.pop(member, None)

    def _period(self, heartbeat: float) -> float:
        shortest = min((i for i in self.members.values() if i is not None), default=heartbeat)
        return max(0.05, min(1.0, min(heartbeat, shortest) / 4))

    async def _run(self) -> None:
        while True:
            heartbeat = conf.SSE_HEARTBEAT_SECONDS
            await asyncio.sleep(self._period(heartbeat))
            now = self.loop.time()
            for stream in list(self.streams):
                deadline = stream.deadline
                if deadline is not None and now >= deadline:
                    stream.expire()
                elif now - stream.last_write >= heartbeat:
                    stream.beat(now)
            for member, own in list(self.members.items()):
                if now - member.last_write >= (heartbeat if own is None else own):
                    member.beat(now)

    async def beating[T](
        self, source: AsyncIterable[T], interval: float | None = None
    ) -> AsyncGenerator[T | bytes, None]:
        """``source``'s items, with ``HEARTBEAT`` whenever it was idle ``interval`` seconds
        (None: ``SSE_HEARTBEAT_SECONDS``): on this timer, with no timer of its own."""
        idle = _Idle(self.loop)
        iterator = aiter(source)
        pending: asyncio.Future[T] | None = None
        self.join(idle, interval)
        self.start()
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(anext(iterator))
                    pending.add_done_callback(idle.wake)
                if not pending.done() and not idle.due:
                    await idle.wait()
                if pending.done():
                    done, pending = pending, None
                    try:
                        item = done.result()
                    except StopAsyncIteration:
                        return
                    idle.wrote()
                    yield item
                elif idle.due:
                    idle.due = False
                    yield HEARTBEAT
        finally:
            self.leave(idle)
            if pending is not None:
                pending.cancel()


class _Idle:
    """A stream of :meth:`Heartbeats.beating`: when it last wrote, and whether a beat is due."""

    __slots__ = ("due", "last_write", "loop", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.last_write = loop.time()
        self.due = False
        self.waiter: asyncio.Future[None] | None = None

    def beat(self, now: float) -> None:
        self.last_write = now
        self.due = True
        self.wake()

    def wrote(self) -> None:
        self.last_write = self.loop.time()
        self.due = False

    def wake(self, _done: Any = None) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Until the source has an item or a beat is due."""
        self.waiter = self.loop.create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None
