"""Presence cannot be churned: a user opening and closing a room's stream in a tight loop
sends the room's members a bounded number of ``presence`` events (at most about one per
second), the last of them the final list, and writes nothing into the room's message log
(presence goes on the room's ephemeral channel ``chat.presence.<slug>``). Real Daphne."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.chat.conftest import EventReader, log_of, open_and_close, presence_seq
from tests.servers import DaphneServer

CYCLES = 200


def settle_on(
    server: DaphneServer, watcher: EventReader, reader: httpx.Client, slug: str, users: list[str]
) -> dict[str, Any]:
    """Wait until the server lists ``users`` and the watcher got the latest presence event
    of the room, listing them too; return that event. (Presence is announced at most about
    once a second: the list after the last leave may come a moment after the server's own
    rows say it, while the latest event still names a user the churn just had in.)"""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        watcher.read_for(0.2)
        head = log_of(server, f"chat.presence.{slug}")["head"]
        got = [e for e in watcher.events if e.get("event") == "presence"]
        if (
            got
            and presence_seq(got[-1]) == head
            and got[-1]["json"]["users"] == users
            and reader.get(f"/api/chat/{slug}/presence/").json()["users"] == users
        ):
            return got[-1]
    raise AssertionError(f"presence did not settle on {users}; got {watcher.events}")


def churn(
    server: DaphneServer,
    watcher_client: httpx.Client,
    churner: httpx.Client,
    slug: str,
    open_stream: Callable[..., EventReader],
) -> None:
    url = f"/chat/{slug}/stream/"
    watcher = open_stream(watcher_client, url)
    watcher.wait_presence({"alice"})
    # bob is in the room and the watcher knows it: the burst must end with a list without him.
    held = open_stream(churner, url)
    watcher.wait_presence({"alice", "bob"})
    room_before = log_of(server, f"chat.room.{slug}")
    mark = len(watcher.events)

    started = time.monotonic()
    held.close()
    for _ in range(CYCLES):
        open_and_close(churner, url)
    final = settle_on(server, watcher, watcher_client, slug, ["alice"])
    elapsed = time.monotonic() - started

    announced = [e for e in watcher.events[mark:] if e.get("event") == "presence"]
    print(f"{CYCLES} opens and closes: {len(announced)} presence events in {elapsed:.1f} s")
    # The old code sent about two per cycle (a join and a leave): 400 here.
    assert len(announced) <= elapsed + 2, f"{len(announced)} presence events in {elapsed:.1f} s"
    assert announced and announced[-1] is final
    assert final["json"]["users"] == ["alice"]
    # The room's log (its messages' retention) gained nothing; presence keeps one event.
    assert log_of(server, f"chat.room.{slug}") == room_before
    assert log_of(server, f"chat.presence.{slug}")["rows"] == 1


def test_churning_the_room_stream_sends_bounded_presence(
    chat_site: DaphneServer,
    alice: httpx.Client,
    bob: httpx.Client,
    sandbox: str,
    open_stream: Callable[..., EventReader],
) -> None:
    churn(chat_site, alice, bob, sandbox, open_stream)
