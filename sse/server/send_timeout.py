"""A stream's ``send()`` that waits past ``SSE_SEND_TIMEOUT_SECONDS`` is cut off
(``sse.server.asgi``): one timer per event loop watches the sends in flight, not one per send."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.core.exceptions import RequestAborted

__all__ = ["SendWatch", "TimedSend"]

Send = Callable[[Mapping[str, Any]], Awaitable[None]]


class SendWatch:
    """The sends in flight of one event loop's streams, checked by one timer.

    A send registers itself (a dict entry, no timer of its own: a stream sends once per
    event, and ``asyncio.timeout()`` around each send costs ~4 us where this costs ~0.3);
    while any is registered a timer runs every ``interval`` and cancels the task of each
    send past its deadline.
    """

    __slots__ = ("interval", "loop", "sending", "timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sending: dict[asyncio.Task[Any], TimedSend] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.interval = 1.0

    def arm(self, timeout: float) -> None:
        # A send is cut between one and two intervals (a quarter of its timeout, at most 1 s)
        # after its timeout: a server's own timeout of the same length (python -m sse.daphne
        # aborts the connection itself) goes first even on a loop that was busy meanwhile.
        self.interval = min(1.0, max(timeout / 4, 0.01))
        self.timer = self.loop.call_later(self.interval, self._check)

    def _check(self) -> None:
        self.timer = None
        now = self.loop.time() - self.interval
        for task, timed in list(self.sending.items()):
            if timed.deadline <= now and not timed.cut:
                timed.cut = True
                task.cancel()
        if self.sending:
            self.timer = self.loop.call_later(self.interval, self._check)


class TimedSend:
    """A stream request's ``send``: one that waits past ``timeout`` raises ``RequestAborted``.

    The stream's handler (``sse.server.stream_handling``, on every Django version) takes
    ``RequestAborted`` for a client gone: it closes the response (the stream's ``finally``
    unsubscribes it) and returns without a traceback. The task cut is the one sending: the
    request's own.
    """

    __slots__ = ("cut", "deadline", "send", "timeout", "watch")

    def __init__(self, send: Send, timeout: float, watch: SendWatch) -> None:
        self.send = send
        self.timeout = timeout
        self.watch = watch
        self.deadline = 0.0
        self.cut = False

    async def __call__(self, message: Mapping[str, Any]) -> None:
        if self.cut:
            raise RequestAborted
        task = asyncio.current_task()
        if task is None:  # not in a task: nothing to cut
            await self.send(message)
            return
        watch = self.watch
        self.deadline = watch.loop.time() + self.timeout
        watch.sending[task] = self
        if watch.timer is None:
            watch.arm(self.timeout)
        try:
            await self.send(message)
        except asyncio.CancelledError:
            # Ours (the watch's) unless something else cancelled the task too.
            if self.cut and task.uncancel() == 0:
                raise RequestAborted from None
            raise
        finally:
            del watch.sending[task]
        if self.cut:  # the server's send swallowed the cancellation
            task.uncancel()
            raise RequestAborted
