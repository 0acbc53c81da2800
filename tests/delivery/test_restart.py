"""Server restarts: a SIGKILL mid-stream, and a clean SIGTERM/SIGINT shutdown."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.delivery.client import Ledger, follow, wait_until
from tests.delivery.conftest import finish, fresh_channels

CLIENTS = 10


async def _start_clients(site: object, channels: list[str], total: int) -> tuple[list[Ledger], list[asyncio.Task[None]]]:
    ledgers = [Ledger(channels) for _ in range(CLIENTS)]
    tasks = [
        asyncio.create_task(
            follow(site.url, channels, ledger, cookie=site.cookie, done=lambda lg=ledger: len(lg.got) >= total)
        )
        for ledger in ledgers
    ]
    await wait_until(lambda: all(lg.positions is not None for lg in ledgers), 60, "every client connected")
    return ledgers, tasks


async def _finish(tasks: list[asyncio.Task[None]], timeout: float = 120) -> None:
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_sigkill_and_restart_while_another_process_publishes(make_site: object) -> None:
    site = make_site()
    channels = fresh_channels("restart")
    total = 600
    ledgers, tasks = await _start_clients(site, channels, total)
    publisher = site.publisher(channels, tag="p", count=total, delay=0.01)
    await wait_until(lambda: all(len(lg.got) >= 100 for lg in ledgers), 60, "100 events everywhere")

    site.server.kill()
    assert site.server.proc is not None and site.server.proc.returncode == -signal.SIGKILL
    # Stay down while events keep being logged, then come back on the same port.
    await wait_until(lambda: all(lg.broken_ends >= 1 for lg in ledgers), 30, "every client saw the crash")
    at_restart = max(len(lg.got) for lg in ledgers)
    await asyncio.to_thread(site.restart)
    assert publisher.poll() is None, "the publisher finished before the restart: nothing was tested"
    await asyncio.to_thread(finish, publisher)
    await _finish(tasks)

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
    ledgers, tasks = await _start_clients(site, channels, total)
    await asyncio.to_thread(finish, site.publisher(channels, tag="p", count=30))
    await wait_until(lambda: all(len(lg.got) >= 30 for lg in ledgers), 60, "the first 30 events")

    proc = site.server.proc
    assert proc is not None
    await asyncio.to_thread(site.server.stop, sig)
    # Every stream got the last chunk (a clean end: browsers reconnect), none broke,
    # and the server exited by itself.
    assert proc.returncode == 0, f"daphne exited with {proc.returncode}:\n{site.server.log()[-3000:]}"
    await wait_until(lambda: all(lg.clean_ends >= 1 for lg in ledgers), 10, "clean ends")
    assert [lg.broken_ends for lg in ledgers] == [0] * CLIENTS

    # Published while no server runs: the restarted one replays it from the log.
    await asyncio.to_thread(finish, site.publisher(channels, tag="p", count=30, start=30))
    await asyncio.to_thread(site.restart)
    await _finish(tasks)
    expected = {("p", i) for i in range(total)}
    for ledger in ledgers:
        ledger.check(expected)
