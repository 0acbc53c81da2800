"""Two publisher processes, fifty clients dropped at random: everything arrives once, in order.

Sequence numbers are assigned by the database under concurrent writers, which is
where SQLite and PostgreSQL differ, so this runs on both: SQLite with the
in-memory layer (other processes reach the server through the log) and
PostgreSQL with a real redis-server.
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from tests.delivery.client import Ledger, follow, wait_until
from tests.delivery.conftest import PostgresCluster, finish, fresh_channels
from tests.servers import RedisServer

CLIENTS = 50
PER_PUBLISHER = 1000


async def _chaos(site: object, seed: int) -> None:
    channels = fresh_channels("chaos")
    ledgers = [Ledger(channels) for _ in range(CLIENTS)]
    total = 2 * PER_PUBLISHER
    clients = [
        asyncio.create_task(
            follow(
                site.url, channels, ledger, cookie=site.cookie,
                done=lambda ledger=ledger: len(ledger.got) >= total,
                chaos=random.Random(seed * 1000 + n),
            )
        )
        for n, ledger in enumerate(ledgers)
    ]
    try:
        await wait_until(lambda: all(lg.positions is not None for lg in ledgers), 60, "every client connected")
        go = site.server.log_path.parent / f"go-{seed}"
        publishers = [
            site.publisher(channels, tag=tag, count=PER_PUBLISHER, seed=seed + n, go_file=go)
            for n, tag in enumerate(("p1", "p2"))
        ]
        go.touch()
        started = time.monotonic()
        for proc in publishers:
            await asyncio.to_thread(finish, proc)
        published = time.monotonic() - started
        await asyncio.wait_for(asyncio.gather(*clients), timeout=240)
        print(
            f"\n{total} events in {published:.1f}s; all {CLIENTS} clients complete after "
            f"{time.monotonic() - started:.1f}s; connections per client "
            f"{min(lg.connections for lg in ledgers)}-{max(lg.connections for lg in ledgers)}"
        )
    finally:
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)

    expected = {(tag, i) for tag in ("p1", "p2") for i in range(PER_PUBLISHER)}
    reference = ledgers[0].per_channel()
    for n, ledger in enumerate(ledgers):
        assert ledger.connections > 1, f"client {n} was never disconnected"
        ledger.check(expected)
        # One order per channel, the same for every client: the log's.
        assert ledger.per_channel() == reference, f"client {n} saw another order"


async def test_chaos_sqlite_in_memory_layer(make_site: object) -> None:
    site = make_site()
    await _chaos(site, seed=1)


@pytest.mark.redis
async def test_chaos_postgresql_redis(make_site: object, postgres: PostgresCluster, redis: RedisServer) -> None:
    site = make_site(postgres.create_database(), REDIS_URL=redis.url)
    await _chaos(site, seed=2)
