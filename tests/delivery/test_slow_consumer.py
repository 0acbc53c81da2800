"""A client stops reading while ~50 MB of events go out: the server stays small and cuts it off.

Its stream's queue in the hub is bounded (SSE_QUEUE_MAX_BYTES) and the server
waits on a full socket instead of buffering (python -m sse.daphne), so the
server's memory does not grow with what the client leaves unread. The stream is
closed; on resume the client gets every event from the log.
"""

from __future__ import annotations

import asyncio
import time

from tests.delivery.client import Ledger, PeakRSS, StreamBroken, follow, open_stream, rss, wait_until
from tests.delivery.conftest import finish, fresh_channels

EVENTS = 1000
PAD = 50_000  # bytes per event: 50 MB in all
QUEUE_MAX_BYTES = 4 * 1024 * 1024
# What the server may grow by: both streams' queues twice over (queue, chunk in flight),
# plus allocator slack. A fraction of the 50 MB published.
MARGIN = 4 * QUEUE_MAX_BYTES + 8 * 1024 * 1024


async def test_a_client_that_stops_reading_is_cut_off_and_resumes(make_site: object) -> None:
    site = make_site(SSE_QUEUE_MAX_BYTES=str(QUEUE_MAX_BYTES), SSE_SEND_TIMEOUT_SECONDS="5")
    channels = fresh_channels("slow", 1)
    pid = site.server.proc.pid  # type: ignore[union-attr]

    # A reader that keeps up, to show the slow one costs the others nothing.
    healthy = Ledger(channels)
    healthy_task = asyncio.create_task(
        follow(site.url, channels, healthy, cookie=site.cookie, done=lambda: len(healthy.got) >= EVENTS)
    )
    # The slow one reads the opening block, then nothing at all.
    slow = Ledger(channels)
    stream = await open_stream(site.url, channels, cookie=site.cookie)
    items = stream.items()
    slow.take(await anext(items))
    await wait_until(lambda: healthy.positions is not None, 30, "the healthy client connected")
    # Warm up the server's paths once (replay, fan-out) before the baseline.
    await asyncio.to_thread(finish, site.publisher(channels, tag="warm", count=5, pad=PAD))
    await wait_until(lambda: len(healthy.got) >= 5, 30, "warm-up events")
    healthy.got.clear()

    before = rss(pid)
    peak = PeakRSS(pid)
    peak.start()
    started = time.monotonic()
    await asyncio.to_thread(finish, site.publisher(channels, tag="p", count=EVENTS, pad=PAD), 300)
    await asyncio.wait_for(healthy_task, 180)
    await wait_until(lambda: site.stats()["slow_disconnects"] >= 1, 60, "the slow stream closed", 0.5)
    peak.stopped.set()
    peak.join()
    after = rss(pid)
    mib = 1024 * 1024
    print(
        f"\npublished {EVENTS * PAD / 1e6:.0f} MB ({EVENTS * PAD / mib:.1f} MiB) in "
        f"{time.monotonic() - started:.1f}s; server RSS before {before / mib:.1f} MiB, "
        f"peak {peak.peak / mib:.1f} MiB, after {after / mib:.1f} MiB (margin {MARGIN / mib:.0f} MiB)"
    )
    assert peak.peak - before < MARGIN, "server memory grew with what the slow client left unread"

    # The slow client reads again: what was in flight, then the end of its stream.
    got_first = 0
    try:
        async with asyncio.timeout(60):
            async for item in items:
                slow.take(item)
                got_first += item.data is not None
    except StreamBroken:
        pass
    finally:
        stream.abort()
    assert got_first < EVENTS, "the slow stream was never cut off"
    await follow(site.url, channels, slow, cookie=site.cookie, done=lambda: len(slow.got) >= EVENTS + 5)
    print(f"the slow client got {got_first} events before the cut, the rest on resume")
    expected = {("warm", i) for i in range(5)} | {("p", i) for i in range(EVENTS)}
    slow.check(expected)
    healthy.check({("p", i) for i in range(EVENTS)})
