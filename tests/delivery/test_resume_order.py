"""One stream, one order: a resumed client sees its channels' events as a connected one saw them."""

from __future__ import annotations

import asyncio
import random

import httpx

from tests.delivery.client import Crowd, Ledger, follow, open_stream, wait_until
from tests.delivery.conftest import PostgresCluster, fresh_channels

CSRF = "c" * 32


def _publish(site: object, channel: str, i: int) -> None:
    """Publish through the API: in the server process, whose streams get it live at once."""
    answer = httpx.post(
        site.url + "/api/sse/publish/",
        json={"channel": channel, "event": "test", "data": {"p": "api", "i": i, "c": channel}},
        headers={"Cookie": f"{site.staff_cookie}; csrftoken={CSRF}", "X-CSRFToken": CSRF},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text


async def _resume_in_order(site: object) -> None:
    channels = fresh_channels("order", 2)
    rng = random.Random(6)
    published = [rng.choice(channels) for _ in range(40)]
    # Both channels interleave, with runs on one channel, as notifications and broadcasts do.
    assert published.count(channels[0]) > 5 and published.count(channels[1]) > 5

    connected = Ledger(channels)
    resumed = Ledger(channels)
    watcher = asyncio.create_task(
        follow(site.url, channels, connected, cookie=site.cookie, done=lambda: len(connected.got) >= 40)
    )
    try:
        # The resuming client: connected for the first 10, away for the rest, then back.
        stream = await open_stream(site.url, channels, cookie=site.cookie)
        try:
            resumed.connections += 1
            items = stream.items()
            resumed.take(await anext(items))
            await wait_until(lambda: connected.positions is not None, 30, "the connected client's opening")
            for i, channel in enumerate(published[:10]):
                await asyncio.to_thread(_publish, site, channel, i)
            while len(resumed.got) < 10:
                resumed.take(await asyncio.wait_for(anext(items), 30))
        finally:
            stream.abort()
        for i, channel in enumerate(published[10:], start=10):
            await asyncio.to_thread(_publish, site, channel, i)
        await asyncio.wait_for(watcher, 60)
        await follow(site.url, channels, resumed, cookie=site.cookie, done=lambda: len(resumed.got) >= 40)
    finally:
        watcher.cancel()

    expected = {("api", i) for i in range(40)}
    connected.check(expected)
    resumed.check(expected)
    in_publish_order = [(channel, "api", i) for i, channel in enumerate(published)]
    assert connected.got == in_publish_order, "the connected client saw another order"
    assert resumed.connections == 2
    assert resumed.got == connected.got, "the resumed client saw another order than the connected one"
    resumed.check_publish_order()


async def test_a_resumed_stream_of_two_channels_replays_them_in_publish_order(make_site: object) -> None:
    await _resume_in_order(make_site())


async def test_replay_in_publish_order_on_postgresql(make_site: object, postgres: PostgresCluster) -> None:
    await _resume_in_order(make_site(postgres.create_database()))


async def test_twenty_clients_dropped_at_random_all_see_the_publish_order(make_site: object) -> None:
    site = make_site()
    channels = fresh_channels("order-churn", 2)
    rng = random.Random(20)
    total = 200
    published = [rng.choice(channels) for _ in range(total)]
    crowd = Crowd(site.url, channels, cookie=site.cookie, count=20, total=total, chaos_seed=20)
    async with crowd:
        for i, channel in enumerate(published):
            await asyncio.to_thread(_publish, site, channel, i)
            if i % 10 == 9:
                await asyncio.sleep(rng.uniform(0, 0.3))  # let clients drop and resume meanwhile
        await crowd.finished(180)
    in_publish_order = [(channel, "api", i) for i, channel in enumerate(published)]
    resumes = 0
    for n, ledger in enumerate(crowd.ledgers):
        ledger.check({("api", i) for i in range(total)})
        ledger.check_publish_order()
        assert ledger.got == in_publish_order, f"client {n} saw another order"
        resumes += ledger.connections - 1
    assert resumes >= 20, f"only {resumes} resumes: the replay was hardly tested"
