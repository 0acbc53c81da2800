"""The presence rows each server process keeps, and the sweep of a dead process's rows
(chat/presence.py), against the test database."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from chat.conf import conf
from chat.models import Presence, Room
from chat.presence import present_users, room_slugs, sync_presence
from sse.storage import get_event_log

pytestmark = pytest.mark.django_db


@pytest.fixture
def lobby() -> Room:
    return Room.objects.create(slug="lobby", name="Lobby")


@pytest.fixture
def users() -> dict[str, Any]:
    User = get_user_model()
    return {name: User.objects.create_user(name) for name in ("alice", "bob")}


def _announced(slug: str) -> list[list[str]]:
    """What the room's presence channel holds: it is ephemeral, so only the latest list."""
    events = get_event_log().read(f"chat.presence.{slug}", 0, 100)
    return [json.loads(e.data)["users"] for e in events if e.event == "presence"]


def _presence_head(slug: str) -> int:
    return get_event_log().heads([f"chat.presence.{slug}"])[f"chat.presence.{slug}"]


def test_room_slugs_picks_room_channels() -> None:
    assert room_slugs(["broadcast", "chat.room.lobby", "notifications.user.1"]) == ["lobby"]


def test_join_and_leave_write_rows_and_announce(lobby: Room, users: dict[str, Any]) -> None:
    alice = str(users["alice"].pk)
    assert sync_presence("p1", {"lobby"}, {"lobby": [alice]}, False) == {"lobby": ["alice"]}
    assert list(Presence.objects.values_list("process", "user__username")) == [("p1", "alice")]
    assert sync_presence("p1", {"lobby"}, {}, False) == {"lobby": []}
    assert not Presence.objects.exists()
    # Two announcements on the presence channel, of which the log keeps the latest.
    assert _presence_head("lobby") == 2
    assert _announced("lobby") == [[]]


def test_presence_stays_out_of_the_room_log(lobby: Room, users: dict[str, Any]) -> None:
    alice = str(users["alice"].pk)
    for _ in range(20):
        sync_presence("p1", {"lobby"}, {"lobby": [alice]}, False)
        sync_presence("p1", {"lobby"}, {}, False)
    assert _presence_head("lobby") == 40
    assert len(get_event_log().read("chat.presence.lobby", 0, 100)) == 1
    assert get_event_log().read("chat.room.lobby", 0, 100) == []


def test_rows_as_they_were_announce_nothing(lobby: Room, users: dict[str, Any]) -> None:
    alice = str(users["alice"].pk)
    sync_presence("p1", {"lobby"}, {"lobby": [alice]}, False)
    # bob opened and closed a stream between two syncs: the room is marked, its rows are not
    # changed, and the list already announced still holds.
    assert sync_presence("p1", {"lobby"}, {"lobby": [alice]}, False) == {}
    assert _presence_head("lobby") == 1


def test_two_processes_share_the_list(lobby: Room, users: dict[str, Any]) -> None:
    sync_presence("p1", {"lobby"}, {"lobby": [str(users["alice"].pk)]}, False)
    assert sync_presence("p2", {"lobby"}, {"lobby": [str(users["bob"].pk)]}, False) == {
        "lobby": ["alice", "bob"]
    }
    # alice on both: leaving one process keeps her listed.
    sync_presence("p2", {"lobby"}, {"lobby": [str(users["alice"].pk), str(users["bob"].pk)]}, False)
    assert sync_presence("p1", {"lobby"}, {}, False) == {"lobby": ["alice", "bob"]}


def test_a_beat_sweeps_a_dead_process_and_announces(lobby: Room, users: dict[str, Any]) -> None:
    sync_presence("dead", {"lobby"}, {"lobby": [str(users["bob"].pk)]}, False)
    sync_presence("alive", {"lobby"}, {"lobby": [str(users["alice"].pk)]}, False)
    long_ago = timezone.now() - timedelta(seconds=conf.PRESENCE_TTL_SECONDS + 1)
    Presence.objects.filter(process="dead").update(seen=long_ago)
    # Expired rows never show, even before the sweep.
    assert present_users(lobby) == ["alice"]
    assert sync_presence("alive", set(), {"lobby": [str(users["alice"].pk)]}, True) == {"lobby": ["alice"]}
    assert list(Presence.objects.values_list("process", flat=True)) == ["alive"]


def test_a_beat_refreshes_and_restores_own_rows(lobby: Room, users: dict[str, Any]) -> None:
    alice = str(users["alice"].pk)
    sync_presence("p1", {"lobby"}, {"lobby": [alice]}, False)
    before = Presence.objects.get().seen
    # Another process swept us while this one stalled: the next beat puts the row back.
    Presence.objects.all().delete()
    sync_presence("p1", set(), {"lobby": [alice]}, True)
    row = Presence.objects.get()
    assert (row.process, row.user_id) == ("p1", users["alice"].pk)
    assert row.seen >= before
    assert present_users("lobby") == ["alice"]


def test_a_quiet_beat_announces_nothing(lobby: Room, users: dict[str, Any]) -> None:
    sync_presence("p1", {"lobby"}, {"lobby": [str(users["alice"].pk)]}, False)
    assert sync_presence("p1", set(), {"lobby": [str(users["alice"].pk)]}, True) == {}
    assert _presence_head("lobby") == 1
    assert _announced("lobby") == [["alice"]]
