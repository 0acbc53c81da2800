"""One stream, one order, live too: publishers in two processes, a live client and a resumed one.

Two processes take turns on two channels of one stream (the first on channel A, the
second on B), so the publish order is known: 0, 1, 2, ... A client connected all along
and a client resuming from the start afterwards must see that one order, the log's:
on the in-memory layer, where another process's events reach the server only through
the log, and on Redis, where one publisher's hand-off to the layer lags behind its
commit (``publish-late``: the next publisher's event is in the layer first).
"""

from __future__ import annotations

import asyncio
import subprocess

import httpx
import pytest

from tests.delivery.client import Ledger, follow, wait_until
from tests.delivery.conftest import PostgresCluster, fresh_channels
from tests.servers import PYTHON, ROOT, RedisServer

EVENTS = 13
CSRF = "c" * 32


class Stepper:
    """A publisher process told what to publish (tests.delivery.stepper)."""

    def __init__(self, site: object) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "tests.delivery.stepper"],
            cwd=ROOT,
            env=site.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        site.publishers.append(self.proc)

    async def expect(self, answer: str) -> None:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), 120)
        assert line.strip() == answer, f"the stepper said {line!r}, not {answer!r}"

    async def tell(self, command: str, answer: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        await self.expect(answer)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _api_publish(site: object, channel: str, i: int) -> None:
    """Publish in the server process itself (the API): its streams get the event at once."""
    answer = httpx.post(
        site.url + "/api/sse/publish/",
        json={"channel": channel, "event": "test", "data": {"p": "step", "i": i, "c": channel}},
        headers={"Cookie": f"{site.staff_cookie}; csrftoken={CSRF}", "X-CSRFToken": CSRF},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text


async def _live_and_resumed(site: object, publish_all: object) -> tuple[list[int], list[int]]:
    """Publish with ``publish_all(channels)`` while a client follows the stream; then a client
    resumes from where that one started. What each saw, in order."""
    channels = fresh_channels("live-order", 2)
    live = Ledger(channels)
    watcher = asyncio.create_task(
        follow(site.url, channels, live, cookie=site.cookie, done=lambda: len(live.got) >= EVENTS)
    )
    try:
        await wait_until(lambda: live.positions is not None, 30, "the live client's opening")
        start = live.last_id
        await publish_all(channels)
        await asyncio.wait_for(watcher, 60)
    finally:
        watcher.cancel()
    resumed = Ledger(channels)
    resumed.last_id = start
    resumed.positions = live.positions and [0, 0]
    await asyncio.wait_for(
        follow(site.url, channels, resumed, cookie=site.cookie, done=lambda: len(resumed.got) >= EVENTS), 60
    )
    expected = {("step", i) for i in range(EVENTS)}
    live.check(expected)
    resumed.check(expected)
    return [i for _, _, i in live.got], [i for _, _, i in resumed.got]


def _agree(live: list[int], resumed: list[int]) -> None:
    print(f"\nlive    {live}\nresumed {resumed}")
    assert resumed == list(range(EVENTS)), "the resumed client did not get the publish order"
    assert live == resumed, "the live client saw another order than the resumed one"


async def test_in_memory_layer_a_publisher_in_the_server_and_one_outside(make_site: object) -> None:
    site = make_site()
    outside = Stepper(site)
    await outside.expect("ready")

    async def publish_all(channels: list[str]) -> None:
        for i in range(EVENTS):
            if i % 2 == 0:
                await asyncio.to_thread(_api_publish, site, channels[0], i)
            else:
                await outside.tell(f"publish {channels[1]} {i}", f"done {i}")

    _agree(*await _live_and_resumed(site, publish_all))
    outside.close()


async def test_in_memory_layer_two_publishers_outside_the_server(make_site: object) -> None:
    site = make_site()
    first, second = Stepper(site), Stepper(site)
    await first.expect("ready")
    await second.expect("ready")

    async def publish_all(channels: list[str]) -> None:
        for i in range(EVENTS):
            stepper, channel = (first, channels[0]) if i % 2 == 0 else (second, channels[1])
            await stepper.tell(f"publish {channel} {i}", f"done {i}")

    _agree(*await _live_and_resumed(site, publish_all))
    first.close()
    second.close()


async def _hand_off_lags_commit(site: object) -> None:
    first, second = Stepper(site), Stepper(site)
    await first.expect("ready")
    await second.expect("ready")

    async def publish_all(channels: list[str]) -> None:
        for i in range(0, EVENTS, 2):
            # i is committed first, but i + 1 reaches the layer before it.
            await first.tell(f"publish-late {channels[0]} {i}", f"committed {i}")
            if i + 1 < EVENTS:
                await second.tell(f"publish {channels[1]} {i + 1}", f"done {i + 1}")
            await first.tell(f"send {i}", f"done {i}")

    _agree(*await _live_and_resumed(site, publish_all))
    first.close()
    second.close()


@pytest.mark.redis
async def test_redis_a_hand_off_that_lags_its_commit(make_site: object, redis: RedisServer) -> None:
    await _hand_off_lags_commit(make_site(REDIS_URL=redis.url))


@pytest.mark.redis
async def test_postgresql_redis_a_hand_off_that_lags_its_commit(
    make_site: object, postgres: PostgresCluster, redis: RedisServer
) -> None:
    # Rows are drawn before commit here; these publishes do not overlap (each commits
    # before the next begins), so their rows are in commit order and the promise holds.
    await _hand_off_lags_commit(make_site(postgres.create_database(), REDIS_URL=redis.url))
