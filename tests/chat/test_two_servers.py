"""Two Daphne processes with REDIS_URL sharing one database: alice on one, bob on the
other, chat and see each other's presence; a killed process's users drop out."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.chat import settings as chat_settings
from tests.chat.conftest import EventReader, chat_env, create_room
from tests.chat.test_presence_churn import churn
from tests.project.conftest import login
from tests.servers import DaphneServer, RedisServer, prepare_database

pytestmark = pytest.mark.redis

# A loaded shared machine may add a few seconds of scheduling to the documented bound.
SLACK_SECONDS = 20.0


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, redis: RedisServer
) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    # Shared by the tests of this module; the last one kills the second process.
    tmp_path = tmp_path_factory.mktemp("two-servers")
    # A database number of our own on the shared redis-server: no other test's groups.
    redis_url = redis.url.rsplit("/", 1)[0] + "/11"
    env = chat_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", REDIS_URL=redis_url)
    prepare_database(env)
    first = DaphneServer(env, log_path=tmp_path / "first.log").start()
    try:
        second = DaphneServer(env, log_path=tmp_path / "second.log").start()
    except BaseException:
        first.stop()
        raise
    try:
        yield first, second
    finally:
        second.stop()
        first.stop()


def _listed_on_page(client: httpx.Client) -> list[str]:
    page = client.get("/chat/lobby/").text
    found = re.search(r'<ul id="chat-presence"[^>]*>(.*?)</ul>', page, re.S)
    assert found, "the page has no presence list"
    return re.findall(r'<li data-user="([^"]+)">', found.group(1))


def _message_with(body: str) -> Callable[[dict[str, object]], bool]:
    def match(event: dict[str, object]) -> bool:
        data = event["json"]
        return event.get("event") == "message" and isinstance(data, dict) and data.get("body") == body

    return match


def test_a_user_on_both_processes_stays_until_the_last_stream_closes(
    servers: tuple[DaphneServer, DaphneServer], open_stream: Callable[..., EventReader]
) -> None:
    first, second = servers
    bob = login(first.url, "bob")
    alice_one = login(first.url, "alice")
    alice_two = login(second.url, "alice")
    try:
        watcher = open_stream(bob, "/chat/lobby/stream/")
        watcher.wait_presence({"bob"})
        one = open_stream(alice_one, "/chat/lobby/stream/")
        watcher.wait_presence({"alice", "bob"})
        open_stream(alice_two, "/chat/lobby/stream/")
        # The second process announces alice's join there; wait for that event.
        mark = len(watcher.events)
        watcher.wait_for(lambda e: e.get("event") == "presence", what="a second presence", since=mark)
        # Closing one of her streams is a leave in that process: it announces again, and the
        # list still has her, because the other process keeps a stream open.
        mark = len(watcher.events)
        one.close()
        after = watcher.wait_for(lambda e: e.get("event") == "presence", what="presence after", since=mark)
        assert after["json"]["users"] == ["alice", "bob"]
        assert alice_two.get("/api/chat/lobby/presence/").json()["users"] == ["alice", "bob"]
    finally:
        for client in (bob, alice_one, alice_two):
            client.close()


def test_churn_on_one_process_is_coalesced_for_a_watcher_on_the_other(
    servers: tuple[DaphneServer, DaphneServer], open_stream: Callable[..., EventReader]
) -> None:
    first, second = servers
    create_room(first, "churn", "Churn")
    alice = login(first.url, "alice")
    bob = login(second.url, "bob")
    try:
        # bob opens and closes the room's stream on the second process 200 times; alice on the
        # first gets a bounded number of presence events (through Redis), the last without bob.
        churn(first, alice, bob, "churn", open_stream)
    finally:
        alice.close()
        bob.close()


def test_alice_and_bob_on_two_processes(
    servers: tuple[DaphneServer, DaphneServer], open_stream: Callable[..., EventReader]
) -> None:
    first, second = servers
    alice = login(first.url, "alice")
    bob = login(second.url, "bob")
    try:
        at_alice = open_stream(alice, "/chat/lobby/stream/")
        at_alice.wait_presence({"alice"})
        # Bob uses the page's kind of stream: presence counts any stream carrying the room
        # (its presence events come on the room's presence channel, which the page adds too).
        at_bob = open_stream(
            bob,
            "/sse/stream/",
            [("channel", "broadcast"), ("channel", "chat.room.lobby"), ("channel", "chat.presence.lobby")],
        )
        at_alice.wait_presence({"alice", "bob"})
        at_bob.wait_presence({"alice", "bob"})
        # The page rendered by either process lists both.
        assert _listed_on_page(alice) == ["alice", "bob"]
        assert _listed_on_page(bob) == ["alice", "bob"]

        hello = f"hello from the first process {uuid.uuid4().hex[:6]}"
        assert alice.post("/api/chat/lobby/messages/", json={"body": hello}).status_code == 201
        got = at_bob.wait_for(_message_with(hello), what="alice's message at bob")
        assert got["json"]["user"] == "alice"
        reply = f"hello from the second process {uuid.uuid4().hex[:6]}"
        assert bob.post("/api/chat/lobby/messages/", json={"body": reply}).status_code == 201
        got = at_alice.wait_for(_message_with(reply), what="bob's message at alice")
        assert got["json"]["user"] == "bob"

        # A clean leave on one process reaches the other.
        at_bob.close()
        at_alice.wait_presence({"alice"})
        at_bob = open_stream(bob, "/chat/lobby/stream/")
        at_alice.wait_presence({"alice", "bob"})

        # Bob's process dies without a goodbye: its rows expire and alice's list drops him.
        second.kill()
        at_alice.wait_presence({"alice"}, timeout=chat_settings.PRESENCE_BOUND_SECONDS + SLACK_SECONDS)
        assert _listed_on_page(alice) == ["alice"]
    finally:
        alice.close()
        bob.close()
