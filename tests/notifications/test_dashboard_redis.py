"""With REDIS_URL the dashboard hears every server process: two Daphnes, one Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.notifications.test_dashboard import async_client, dashboard, open_streams
from tests.servers import DaphneServer, RedisServer, prepare_database, project_env

pytestmark = pytest.mark.redis


@pytest.fixture
def two_servers(redis: RedisServer, tmp_path: Path) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    env = project_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", SSE_HEARTBEAT_SECONDS="1", REDIS_URL=redis.url)
    prepare_database(env)
    first = DaphneServer(env, log_path=tmp_path / "first.log").start()
    second = DaphneServer(env, log_path=tmp_path / "second.log").start()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


async def test_figures_cover_every_server_process(two_servers: tuple[DaphneServer, DaphneServer]) -> None:
    first, second = two_servers
    staff = async_client(first, "admin")
    alice = async_client(second, "alice")
    try:
        async with dashboard(staff) as events:
            opened = await open_streams(alice, 5)
            all_open = time.time()
            latest: dict[str, dict[str, object]] = {}
            deadline = time.monotonic() + 60
            # Each process publishes its own figures; wait for one of each taken after the opens.
            while len(latest) < 2:
                assert time.monotonic() < deadline, f"heard only from {sorted(latest)}"
                figures = await events.next()
                if figures["time"] >= all_open:
                    latest[str(figures["process"])] = figures
            counts = sorted(int(f["streams"]) for f in latest.values())  # type: ignore[call-overload]
            assert counts == [1, 5]  # the dashboard stream on one, alice's five on the other
            for stream in opened:
                await stream.aclose()
    finally:
        await staff.aclose()
        await alice.aclose()
