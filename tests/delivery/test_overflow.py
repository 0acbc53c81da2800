"""A burst larger than the channel layer's capacity reaches every client in full.

channels_redis drops what does not fit in a channel (capacity, here 20). The
server is frozen (SIGSTOP) while 300 events are published, so its layer channel
overflows for sure; then it thaws and one more event per channel goes out. The
hub sees the jump in sequence numbers and fills the gap from the log. The log
poll is set to 60 s, so it is the gap detection that heals, not the poll.
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from tests.delivery.client import Crowd
from tests.delivery.conftest import finish, fresh_channels
from tests.servers import RedisServer

CLIENTS = 5
CAPACITY = 20
BURST = 300


@pytest.mark.redis
async def test_burst_over_layer_capacity_is_healed_from_the_log(
    make_site: object, redis: RedisServer
) -> None:
    site = make_site(REDIS_URL=redis.url, SSE_TEST_LAYER_CAPACITY=str(CAPACITY), SSE_LOG_POLL_SECONDS="60")
    channels = fresh_channels("burst")
    total = BURST + len(channels)
    async with Crowd(site.url, channels, cookie=site.cookie, count=CLIENTS, total=total) as crowd:
        before = site.stats()
        pid = site.server.proc.pid  # type: ignore[union-attr]
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.to_thread(finish, site.publisher(channels, tag="p", count=BURST))
        finally:
            os.kill(pid, signal.SIGCONT)
        # One more event on every channel, through the layer: each shows the hub its gap.
        await asyncio.to_thread(
            finish, site.publisher(channels, tag="p", count=len(channels), start=BURST, cycle=True)
        )
        await crowd.finished(120)

    after = site.stats()
    healed = after["caught_up_events"] - before["caught_up_events"]
    print(f"\n{total} events, layer capacity {CAPACITY}: {healed} filled in from the log")
    # Proof the layer really dropped: most of the burst came from the log. (Not all but
    # CAPACITY exactly: the layer may take one more, and what it brought is not read again.)
    assert healed >= BURST - 2 * CAPACITY
    expected = {("p", i) for i in range(total)}
    for lg in crowd.ledgers:
        assert lg.connections == 1
        lg.check(expected)
