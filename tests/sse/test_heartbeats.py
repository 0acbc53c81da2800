"""sse.hub.heartbeats: one timer per hub for every stream's heartbeats and deadlines."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

from django.test import override_settings

from sse.hub.heartbeats import Heartbeats
from sse.wire.encoding import HEARTBEAT


class _Stream:
    """A hub stream as the timer sees it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline: float | None = None) -> None:
        self.last_write = loop.time()
        self.deadline = deadline
        self.beats = 0
        self.expired = False

    def beat(self, now: float) -> None:
        self.last_write = now
        self.beats += 1

    def expire(self) -> None:
        self.expired = True


async def wait_for(check: object) -> None:
    for _ in range(200):
        if callable(check) and check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the timer never got there")


@override_settings(SSE_HEARTBEAT_SECONDS=0.1)
async def test_the_timer_beats_idle_streams_and_ends_those_past_their_deadline() -> None:
    loop = asyncio.get_running_loop()
    idle, ending = _Stream(loop), _Stream(loop, deadline=loop.time())
    timer = Heartbeats(loop, {idle, ending})
    timer.start()
    try:
        await wait_for(lambda: idle.beats >= 2)
        assert ending.expired and ending.beats == 0  # past its deadline: ended, not kept alive
    finally:
        assert timer.task is not None
        timer.task.cancel()


@override_settings(SSE_HEARTBEAT_SECONDS=30)
async def test_beating_interleaves_heartbeats_with_a_source_on_the_one_timer() -> None:
    loop = asyncio.get_running_loop()
    timer = Heartbeats(loop, set())
    gate = asyncio.Event()

    async def source() -> AsyncIterator[str]:
        yield "first"
        await gate.wait()
        yield "late"

    stream = aiter(timer.beating(source(), interval=0.1))
    try:
        assert await anext(stream) == "first"
        assert await anext(stream) == HEARTBEAT  # its own interval, not the setting's
        assert await anext(stream) == HEARTBEAT
        assert len(timer.members) == 1
        gate.set()
        assert await anext(stream) == "late"
        assert [item async for item in stream] == []
        assert timer.members == {}  # left the timer when its source ended
    finally:
        assert timer.task is not None
        timer.task.cancel()


async def test_a_closed_beating_stream_leaves_and_cancels_its_read() -> None:
    loop = asyncio.get_running_loop()
    timer = Heartbeats(loop, set())
    cancelled = asyncio.Event()

    async def forever() -> AsyncIterator[str]:
        try:
            yield "one"
            await asyncio.Event().wait()
        finally:
            cancelled.set()
        yield "never"

    stream = timer.beating(forever(), interval=5)
    assert await anext(stream) == "one"
    reading = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)
    reading.cancel()
    await asyncio.gather(reading, return_exceptions=True)
    await stream.aclose()
    await asyncio.wait_for(cancelled.wait(), 2)
    assert timer.members == {}
    assert timer.task is not None
    timer.task.cancel()


@override_settings(SSE_HEARTBEAT_SECONDS=0.1, SSE_REPLAYS_PER_USER=1)
async def test_a_replay_waiting_its_turn_gets_the_heartbeats_of_the_one_timer() -> None:
    from sse.hub.parts import StreamParts
    from sse.hub.replay_budget import ReplayBudget
    from sse.hub.stats import Counts
    from sse.hub.subscriber import Subscriber

    loop = asyncio.get_running_loop()
    parts = StreamParts(loop, Counts(), itertools.count(1))
    first, second = Subscriber(parts, ("c",), "u"), Subscriber(parts, ("c",), "u")
    timer = Heartbeats(loop, {first, second})
    timer.start()
    budget = ReplayBudget()
    holding, waiting = budget.ticket("u"), budget.ticket("u")
    try:
        assert [beat async for beat in holding.admit(first)] == []  # the user's one slot
        beats = aiter(waiting.admit(second))
        assert await anext(beats) == HEARTBEAT
        assert await anext(beats) == HEARTBEAT
        assert second.frames == []  # sent while it waits, not queued for after
        holding.leave()
        assert [beat async for beat in beats] == []
        assert waiting.admitted
    finally:
        waiting.leave()
        assert timer.task is not None
        timer.task.cancel()
