"""A small reconnect storm: a few hundred streams on one server, SIGTERM, a new process.

``make bench`` measures the storm's timing; this test only checks what a storm must
never break: while a publisher keeps writing to the log, every client resumes with
its Last-Event-ID from the restarted process and ends with every event exactly once,
in order.
"""

from __future__ import annotations

import asyncio

from tests.delivery.client import Crowd, wait_until
from tests.delivery.conftest import finish, fresh_channels

CLIENTS = 300
TOTAL = 600


async def test_every_client_resumes_after_a_restart_with_every_event_once(make_site: object) -> None:
    site = make_site()
    channels = fresh_channels("storm", 1)
    async with Crowd(site.url, channels, cookie=site.cookie, count=CLIENTS, total=TOTAL) as crowd:
        ledgers = crowd.ledgers
        # ~20 events a second: it is still publishing when the server goes and while it is away.
        publisher = site.publisher(channels, tag="p", count=TOTAL, delay=0.05)
        await wait_until(lambda: all(len(lg.got) >= 20 for lg in ledgers), 120, "20 events everywhere")

        assert publisher.poll() is None, "the publisher finished before the restart: nothing was tested"
        await asyncio.to_thread(site.server.stop)
        proc = site.server.proc
        assert proc is not None and proc.returncode == 0, site.server.log()[-3000:]
        at_stop = [len(lg.got) for lg in ledgers]
        await asyncio.to_thread(site.restart)
        await asyncio.to_thread(finish, publisher, 300)
        await crowd.finished(300)

    print(f"\nSIGTERM after {min(at_stop)}-{max(at_stop)} of {TOTAL} events")
    expected = {("p", i) for i in range(TOTAL)}
    for ledger in ledgers:
        ledger.check(expected)
        # The server ended every stream and the client came back on a new connection.
        assert ledger.clean_ends >= 1 and ledger.connections >= 2, (ledger.clean_ends, ledger.connections)
