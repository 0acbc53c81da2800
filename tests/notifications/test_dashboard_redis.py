"""With REDIS_URL the dashboard hears every server process: two Daphnes, one Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.jobs.conftest import wait_for
from tests.notifications.test_dashboard import async_client, dashboard, open_streams
from tests.notifications.test_dashboard_private import Reader, _viewer_channel
from tests.project.conftest import login
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


def test_viewer_lists_name_channels_of_every_process(two_servers: tuple[DaphneServer, DaphneServer]) -> None:
    """The busiest channels of the other process reach a viewer's own list (over the layer
    group), filtered by what the viewer may read: admin, a member, sees the private room."""
    first, second = two_servers
    admin, watcher, alice = login(first.url, "admin"), login(first.url, "admin"), login(second.url, "alice")
    reader: Reader | None = None
    try:
        with alice.stream("GET", "/sse/stream/?channel=chat.room.staff", timeout=60) as room:
            assert room.status_code == 200
            viewer = _viewer_channel(admin.get("/dashboard/"))
            reader = Reader(watcher, f"/sse/stream/?channel=dashboard&channel={viewer}")
            reader.start()
            wait_for(
                lambda: any("chat.room.staff" in names for names in reader.channel_lists()),
                what="the other process's channel in admin's list",
            )
            print("admin's list, alice's stream on the other process:", reader.channel_lists()[-1])
    finally:
        if reader is not None:
            reader.done.set()
        for client in (admin, watcher, alice):
            client.close()
        if reader is not None:
            reader.join(timeout=10)
