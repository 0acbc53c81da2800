"""Server restarts: a SIGKILL mid-stream, and a clean SIGTERM/SIGINT shutdown."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.delivery.client import Crowd, wait_until
from tests.delivery.conftest import finish, fresh_channels

CLIENTS = 10


async def test_sigkill_and_restart_while_another_process_publishes(make_site: object) -> None:
    site = make_site()
    channels = fresh_channels("restart")
    total = 600
    async with Crowd(site.url, channels, cookie=site.cookie, count=CLIENTS, total=total) as crowd:
        ledgers = crowd.ledgers
        publisher = site.publisher(channels, tag="p", count=total, delay=0.01)
        await wait_until(lambda: all(len(lg.got) >= 100 for lg in ledgers), 60, "100 events everywhere")

        site.server.kill()
        assert site.server.proc is not None and site.server.proc.returncode == -signal.SIGKILL
        assert publisher.poll() is None, "the publisher finished before the kill: nothing was tested"
        await wait_until(lambda: all(lg.broken_ends >= 1 for lg in ledgers), 30, "every client saw the crash")
        at_restart = max(len(lg.got) for lg in ledgers)
        # Back on the same port while events keep being logged.
        await asyncio.to_thread(site.restart)
        await asyncio.to_thread(finish, publisher)
        await crowd.finished(120)

    print(f"\nrestarted after {at_restart} of {total} events")
    expected = {("p", i) for i in range(total)}
    for ledger in ledgers:
        ledger.check(expected)
        assert ledger.broken_ends >= 1 and ledger.connections >= 2


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_shutdown_ends_streams_cleanly_and_clients_resume(make_site: object, sig: int) -> None:
    site = make_site()
    channels = fresh_channels("shutdown")
    total = 60
    async with Crowd(site.url, channels, cookie=site.cookie, count=CLIENTS, total=total) as crowd:
        ledgers = crowd.ledgers
        await asyncio.to_thread(finish, site.publisher(channels, tag="p", count=30))
        await wait_until(lambda: all(len(lg.got) >= 30 for lg in ledgers), 60, "the first 30 events")

        proc = site.server.proc
        assert proc is not None
        stopping = time.monotonic()
        await asyncio.to_thread(site.server.stop, sig)
        print(f"\nthe server exited {time.monotonic() - stopping:.1f}s after {signal.Signals(sig).name}")
        # The server exited by itself, every stream got its last chunk (a clean end,
        # after which browsers reconnect) and none broke off.
        assert proc.returncode == 0, f"daphne exited with {proc.returncode}:\n{site.server.log()[-3000:]}"
        await wait_until(lambda: all(lg.clean_ends >= 1 for lg in ledgers), 10, "clean ends")
        assert [lg.broken_ends for lg in ledgers] == [0] * CLIENTS

        # Published while no server runs: the restarted one replays it from the log.
        await asyncio.to_thread(finish, site.publisher(channels, tag="p", count=30, start=30))
        await asyncio.to_thread(site.restart)
        await crowd.finished(120)
    expected = {("p", i) for i in range(total)}
    for ledger in ledgers:
        ledger.check(expected)
