"""redis-server stops for a few seconds mid-stream and comes back on the same port."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis as redis_client

from tests.delivery.client import Crowd, wait_until
from tests.delivery.conftest import finish, fresh_channels
from tests.servers import RedisServer

CLIENTS = 5


@pytest.mark.redis
async def test_streams_survive_a_redis_outage_and_miss_nothing(make_site: object) -> None:
    server = RedisServer().start()
    try:
        site = make_site(REDIS_URL=server.url, SSE_HEARTBEAT_SECONDS="0.5")
        channels = fresh_channels("outage")
        total = 400
        busy = Crowd(site.url, channels, cookie=site.cookie, count=CLIENTS, total=total)
        # Beside each busy stream an idle one: it gets only heartbeats, which must not stop.
        idle = Crowd(site.url, fresh_channels("idle", 1), cookie=site.cookie, count=CLIENTS, total=1)
        async with busy, idle:
            ledgers = busy.ledgers
            publisher = site.publisher(channels, tag="p", count=total, delay=0.02)
            await wait_until(lambda: all(len(lg.got) >= 50 for lg in ledgers), 60, "50 events everywhere")

            server.stop()
            down = time.monotonic()
            assert publisher.poll() is None, "the publisher finished before the outage: nothing was tested"
            got_at_stop = [len(lg.got) for lg in ledgers]
            # The outage itself: a few seconds without Redis while events keep coming.
            await asyncio.sleep(4)
            up = time.monotonic()
            server = RedisServer(port=server.port).start()

            # The hub joins its groups again once Redis is back (membership died with it).
            probe = redis_client.Redis(port=server.port)
            try:
                await wait_until(
                    lambda: all(probe.zcard(f"asgi:group:sse.{c}") > 0 for c in channels),
                    30,
                    "groups re-joined",
                )
            finally:
                probe.close()
            await asyncio.to_thread(finish, publisher)
            await busy.finished(120)

        stats = site.stats()
        during = [sum(1 for t in lg.arrivals if down < t < up) for lg in ledgers]
        print(
            f"\nevents per client before the outage {got_at_stop}, during it {during}; "
            f"layer errors {stats['layer_errors']}"
        )
        assert stats["layer_errors"] > 0, "the server never noticed the outage"
        expected = {("p", i) for i in range(total)}
        for lg in ledgers:
            # Streams stayed open through the outage: the log fed them meanwhile.
            assert lg.connections == 1 and lg.broken_ends == 0
            lg.check(expected)
        for lg in idle.ledgers:
            assert lg.connections == 1 and lg.broken_ends == 0
            assert sum(1 for t in lg.comments if down < t < up) >= 2, "no heartbeat during the outage"
    finally:
        server.stop()
