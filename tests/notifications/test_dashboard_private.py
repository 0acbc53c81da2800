"""Issue 26, item 7: a private room's name reaches only staff who may read the room.

``/api/sse/stats/``, the dashboard page and the dashboard's live stream list channels; each
staff member sees only the channels they may read themselves (the channels' own rules). bob,
made staff here, is not a member of the private room ``staff`` (admin and alice are): while
alice has a stream on it, admin sees its name in all three, bob in none, though bob sees the
open ``lobby`` alice is in as well.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sse.testing import EventParser, ReceivedEvent
from tests.jobs.conftest import wait_for
from tests.project.conftest import login
from tests.servers import DaphneServer, manage, prepare_database, project_env

PRIVATE = ("chat.room.staff", "chat.presence.staff")
OPEN = "chat.room.lobby"
MAKE_BOB_STAFF = (
    "from django.contrib.auth import get_user_model as u;"
    "u()._default_manager.filter(username='bob').update(is_staff=True)"
)


@pytest.fixture(scope="module")
def staff_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    tmp = tmp_path_factory.mktemp("dashboard-private")
    env = project_env(f"sqlite:///{tmp / 'db.sqlite3'}", SSE_HEARTBEAT_SECONDS="1")
    prepare_database(env)
    manage(env, "shell", "-c", MAKE_BOB_STAFF)
    with DaphneServer(env, log_path=tmp / "daphne.log") as server:
        yield server


class Reader(threading.Thread):
    """Reads one stream in the background: every byte, and the events parsed from them."""

    def __init__(self, client: httpx.Client, url: str) -> None:
        super().__init__(daemon=True)
        self.client, self.url = client, url
        self.raw = ""
        self.events: list[ReceivedEvent] = []
        self.status: int | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        parser = EventParser()
        try:
            with self.client.stream("GET", self.url, timeout=httpx.Timeout(60.0)) as response:
                self.status = response.status_code
                for chunk in response.iter_raw():
                    with self.lock:
                        self.raw += chunk.decode("utf-8", "replace")
                        self.events.extend(parser.feed(chunk))
                    if self.done.is_set():
                        return
        except BaseException as exc:  # reported by the test
            self.error = exc

    def channel_lists(self) -> list[list[str]]:
        with self.lock:
            lists = [e.json()["channels"] for e in self.events if e.event == "channels"]
        return [[row["channel"] for row in rows] for rows in lists]


def _viewer_channel(page: httpx.Response) -> str:
    found = re.search(r'id="dashboard-viewer-channel" type="application/json">(.*?)</script>', page.text)
    assert found, "the dashboard page names no viewer channel"
    return str(json.loads(found.group(1)))


def _stats_channels(client: httpx.Client) -> tuple[dict[str, Any], str]:
    answer = client.get("/api/sse/stats/")
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["streams_by_channel"]), answer.text


def test_private_room_names_reach_only_its_members(staff_site: DaphneServer) -> None:
    url = staff_site.url
    alice, admin, bob = login(url, "alice"), login(url, "admin"), login(url, "bob")
    watchers = [login(url, "admin"), login(url, "bob")]
    readers: list[Reader] = []
    try:
        channels = "&".join(f"channel={name}" for name in (*PRIVATE, OPEN))
        with alice.stream("GET", f"/sse/stream/?{channels}", timeout=60) as room:
            assert room.status_code == 200
            # /api/sse/stats/: the member sees the room's channels, bob the open room only.
            wait_for(lambda: set(PRIVATE) <= set(_stats_channels(admin)[0]), what="admin's stats")
            bob_stats, bob_text = _stats_channels(bob)
            print("bob's stats channels:", sorted(bob_stats))
            assert OPEN in bob_stats
            assert not [name for name in PRIVATE if name in bob_text]

            for client, watcher in zip((admin, bob), watchers, strict=True):
                page = client.get("/dashboard/")
                assert page.status_code == 200
                viewer = _viewer_channel(page)
                reader = Reader(watcher, f"/sse/stream/?channel=dashboard&channel={viewer}")
                reader.start()
                readers.append(reader)
            admin_stream, bob_stream = readers
            # Nobody else's list: bob may not open admin's channel.
            admin_viewer = _viewer_channel(admin.get("/dashboard/"))
            assert bob.get(f"/sse/stream/?channel={admin_viewer}").status_code == 403

            # The live stream: admin's list names the room; bob's lists, several of them after
            # admin's did, name the lobby and never the room.
            wait_for(
                lambda: any("chat.room.staff" in names for names in admin_stream.channel_lists()),
                what="admin's live list to name the private room",
            )
            seen = len(bob_stream.channel_lists())
            wait_for(
                lambda: (
                    len(bob_stream.channel_lists()) >= seen + 3
                    and any(OPEN in names for names in bob_stream.channel_lists())
                ),
                what="three more of bob's live lists",
            )
            print("admin's latest live list:", admin_stream.channel_lists()[-1])
            print("bob's latest live list:", bob_stream.channel_lists()[-1])
            with bob_stream.lock:
                assert bob_stream.status == 200 and bob_stream.raw
                assert not [name for name in PRIVATE if name in bob_stream.raw]

            # The page: rendered with the same lists.
            wait_for(lambda: "chat.room.staff" in admin.get("/dashboard/").text, what="admin's page")
            bob_page = bob.get("/dashboard/").text
            assert OPEN in bob_page
            assert not [name for name in PRIVATE if name in bob_page]
        for reader in readers:
            assert reader.error is None, reader.error
    finally:
        for reader in readers:
            reader.done.set()
        for client in (alice, admin, bob, *watchers):
            client.close()
        for reader in readers:
            reader.join(timeout=10)
