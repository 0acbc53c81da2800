"""Two publisher processes, fifty clients dropped at random: everything arrives once, in order.

In order per channel, the same for every client; and each publisher's events in the order
it published them across the channels (known to fail while the server fills what it reads
from the log a channel at a time: reported as an expected failure, not hidden).

Sequence numbers are assigned by the database under concurrent writers, which is
where SQLite and PostgreSQL differ, so this runs on both: SQLite with the
in-memory layer (other processes reach the server through the log) and
PostgreSQL with a real redis-server.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.delivery.client import Crowd
from tests.delivery.conftest import PostgresCluster, finish, fresh_channels
from tests.servers import RedisServer

CLIENTS = 50
PER_PUBLISHER = 1000


async def _chaos(site: object, seed: int) -> None:
    channels = fresh_channels("chaos")
    total = 2 * PER_PUBLISHER
    crowd = Crowd(site.url, channels, cookie=site.cookie, count=CLIENTS, total=total, chaos_seed=seed)
    async with crowd:
        # Both publishers wait for the same file, so they really do race.
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
        await crowd.finished(240)
    ledgers = crowd.ledgers
    print(
        f"\n{total} events published in {published:.1f}s; all {CLIENTS} clients complete after "
        f"{time.monotonic() - started:.1f}s; connections per client "
        f"{min(lg.connections for lg in ledgers)}-{max(lg.connections for lg in ledgers)}"
    )

    expected = {(tag, i) for tag in ("p1", "p2") for i in range(PER_PUBLISHER)}
    reference = ledgers[0].per_channel()
    for n, ledger in enumerate(ledgers):
        assert ledger.connections > 1, f"client {n} was never disconnected"
        ledger.check(expected)
        # One order per channel, the same for every client: the log's.
        assert ledger.per_channel() == reference, f"client {n} saw another order"
        # And each publisher's events in its order across the channels too, live or replayed.
        ledger.check_publish_order()


async def test_chaos_sqlite_in_memory_layer(make_site: object) -> None:
    await _chaos(make_site(), seed=1)


@pytest.mark.redis
async def test_chaos_postgresql_redis(
    make_site: object, postgres: PostgresCluster, redis: RedisServer
) -> None:
    await _chaos(make_site(postgres.create_database(), REDIS_URL=redis.url), seed=2)
