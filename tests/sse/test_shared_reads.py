"""sse.hub.log_threads.LogThreads.shared: callers asking the same share one read, until it starts."""

from __future__ import annotations

import asyncio
import threading

from sse.hub.log_threads import LogThreads


async def test_same_questions_asked_before_the_read_starts_share_it() -> None:
    log = LogThreads(asyncio.get_running_loop())
    gate = threading.Event()
    calls: list[str] = []

    def read(key: str) -> list[str]:
        calls.append(key)
        return [key]

    try:
        # Both log threads busy: the reads below queue, not yet started.
        busy = [asyncio.ensure_future(log.run(gate.wait, 30)) for _ in range(2)]
        await asyncio.sleep(0.05)
        asked = [asyncio.ensure_future(log.shared("k", read, "k")) for _ in range(5)]
        other = asyncio.ensure_future(log.shared("other", read, "other"))
        await asyncio.sleep(0.05)
        gate.set()
        results = await asyncio.gather(*asked)
        assert await other == ["other"]
        await asyncio.gather(*busy)
        assert sorted(calls) == ["k", "other"], calls
        assert all(result is results[0] for result in results)  # one answer, shared
        # Asked again once that read has started (here: finished): a read of its own.
        assert await log.shared("k", read, "k") == ["k"]
        assert calls.count("k") == 2
    finally:
        gate.set()
        log.shutdown()


async def test_a_caller_that_goes_away_does_not_cancel_the_read_for_the_others() -> None:
    log = LogThreads(asyncio.get_running_loop())
    gate = threading.Event()
    calls: list[int] = []

    def read() -> str:
        calls.append(1)
        return "page"

    try:
        busy = [asyncio.ensure_future(log.run(gate.wait, 30)) for _ in range(2)]
        await asyncio.sleep(0.05)
        first = asyncio.ensure_future(log.shared("k", read))
        second = asyncio.ensure_future(log.shared("k", read))
        await asyncio.sleep(0.05)
        first.cancel()
        gate.set()
        assert await second == "page"
        await asyncio.gather(*busy)
        assert len(calls) == 1 and first.cancelled()
    finally:
        gate.set()
        log.shutdown()
