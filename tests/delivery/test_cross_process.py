"""The in-memory layer reaches no other process: events from one still arrive, through the log."""

from __future__ import annotations

import asyncio
import statistics

from tests.delivery.client import Ledger, follow, wait_until
from tests.delivery.conftest import finish, fresh_channels

EVENTS = 10


async def test_events_from_another_process_arrive_with_the_in_memory_layer(make_site: object) -> None:
    site = make_site()  # SQLite, InMemoryChannelLayer, the default poll interval
    channels = fresh_channels("cross", 1)
    ledger = Ledger(channels)
    task = asyncio.create_task(
        follow(site.url, channels, ledger, cookie=site.cookie, done=lambda: len(ledger.got) >= EVENTS)
    )
    try:
        await wait_until(lambda: ledger.positions is not None, 30, "the client connected")
        # One event every 0.3 s from a separate process, like a worker or a shell.
        await asyncio.to_thread(finish, site.publisher(channels, tag="p", count=EVENTS, delay=0.3))
        await asyncio.wait_for(task, 60)
    finally:
        task.cancel()
    ledger.check({("p", i) for i in range(EVENTS)})
    # Publish time is in each event; both processes share this machine's clock.
    stamps = [payload["t"] for payload in ledger.payloads]
    lags = [arrived - sent for arrived, sent in zip(ledger.wall_arrivals, stamps, strict=True)]
    print(
        f"\nin-memory layer, another process: lag median {statistics.median(lags) * 1000:.0f} ms, "
        f"max {max(lags) * 1000:.0f} ms (log poll every 0.5 s)"
    )
