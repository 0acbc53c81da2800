"""The public API apps build on: every name of ``sse``, event ids (``sse.ids``), what
operators see of a process (``sse.operator``), the log's tail (``EventLog.tail``) and
messages between server processes (``sse.layer_groups``)."""

from __future__ import annotations

import asyncio
import importlib
import io
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import AsyncClient

import sse
import sse.testing
from sse import ChannelHub, LogPosition, event_id, read_event_id
from sse.layer_groups import follow_group, send_to_group
from sse.operator import (
    channel_pattern,
    disconnect,
    log_rows,
    log_tail,
    open_channels,
    open_streams,
    readable,
)
from sse.storage import EventLog, get_event_log

PUBLIC_MODULES = [
    "sse.asgi",
    "sse.urls",
    "sse.api.urls",
    "sse.testing",
    "sse.signals",
    "sse.storage",
    "sse.ids",
    "sse.operator",
    "sse.layer_groups",
]


def test_every_public_name_resolves() -> None:
    for name in sse.__all__:
        assert getattr(sse, name) is not None, name
    with pytest.raises(AttributeError):
        sse.no_such_name  # noqa: B018


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_module_imports_and_names_what_it_exports(module: str) -> None:
    imported = importlib.import_module(module)
    for name in getattr(imported, "__all__", ()):
        assert getattr(imported, name) is not None, f"{module}.{name}"


# -- event ids ---------------------------------------------------------------------


def test_an_event_id_names_each_channel_position_in_channel_order() -> None:
    made = event_id({"b.two": LogPosition(7, 35), "a.one": 3})
    assert re.fullmatch(r"(?:[0-9a-z]+-)?[0-9a-z]+:3\.7_000z", made), made
    assert read_event_id(made, ["b.two", "a.one"]) == {"a.one": LogPosition(3), "b.two": LogPosition(7, 35)}
    # A bare seq is the id without a check, as the hub writes one before a channel's checks.
    assert event_id({"a.one": 3}).endswith(":3")
    assert event_id({"a.one": 0}).endswith(":0")


def test_an_id_of_other_channels_or_no_id_reads_as_none() -> None:
    made = event_id({"a.one": 3})
    assert read_event_id(made, ["a.two"]) is None
    assert read_event_id(made, ["a.one", "a.two"]) is None
    assert read_event_id("not an id", ["a.one"]) is None
    star = made.rsplit(":", 1)[0] + ":*"
    assert read_event_id(star, ["a.one"]) == {"a.one": None}


# -- the log's tail ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_tail_is_the_newest_events_of_every_channel_newest_first() -> None:
    marker = uuid.uuid4().hex[:8]
    shown, hidden = f"scratch.tail-{marker}", f"hidden.{marker}"
    before = log_tail(1).events
    after = before[0].row if before else 0
    for n in range(5):
        sse.publish(shown, {"n": n}, event="tick")
        sse.publish(hidden, {"n": n})
    tail = log_tail(3, after=after, exclude=("hidden.",))
    assert [(e.channel, e.seq, e.event, e.data) for e in tail.events] == [
        (shown, 5, "tick", '{"n":4}'),
        (shown, 4, "tick", '{"n":3}'),
        (shown, 3, "tick", '{"n":2}'),
    ]
    assert tail.left_out == 2  # seqs 1 and 2 of the shown channel
    rows = [e.row for e in tail.events]
    assert rows == sorted(rows, reverse=True)
    everything = log_tail(100, after=after)
    assert len(everything.events) == 10 and everything.left_out == 0
    assert {e.channel for e in everything.events if e.event is None} == {hidden}
    assert log_tail(10, after=everything.events[0].row).events == []
    # Rows looked at again: those still kept, the excluded ones left out.
    again = log_rows([e.row for e in everything.events], exclude=("hidden.",))
    assert {e.row for e in again} == {e.row for e in everything.events if e.channel == shown}
    assert log_rows([]) == []


def test_a_log_without_a_tail_says_so() -> None:
    # The interface's default: the tail is optional, as the other operators' reads are.
    with pytest.raises(NotImplementedError, match="has no tail"):
        EventLog.tail(get_event_log(), 1)


# -- this process's streams -------------------------------------------------------

streaming = pytest.mark.django_db(transaction=True)


@pytest.fixture
def users(transactional_db: None) -> dict[str, int]:
    out = io.StringIO()
    call_command("sse_app_users", stdout=out)
    return {name: int(pk) for name, pk in re.findall(r"^(\w+) (\d+)$", out.getvalue(), re.M)}


@pytest.fixture
def sign_in(async_client: AsyncClient, users: dict[str, int]) -> Callable[[str], Awaitable[Any]]:
    async def as_user(name: str) -> Any:
        user = await get_user_model().objects.aget(pk=users[name])
        await async_client.aforce_login(user)
        return user

    return as_user


@streaming
async def test_operators_see_each_open_stream_and_end_one(async_client: AsyncClient, sign_in: Any) -> None:
    alice = await sign_in("alice")
    channel = f"scratch.op-{uuid.uuid4().hex[:8]}"
    path = f"/sse/stream/?channel={channel}&channel=public"
    headers = {"User-Agent": "operator-test/1.0"}
    async with sse.testing.connect(async_client, path, headers=headers) as stream:
        await sse.apublish(channel, {"n": 1}, event="tick")
        sent = await stream.next_event(timeout=5)
        found = [info for info in open_streams() if channel in info.channels]
        assert len(found) == 1
        info = found[0]
        assert info.user_key == str(alice.pk)
        assert info.channels == tuple(sorted([channel, "public"]))
        assert info.user_agent == "operator-test/1.0"
        assert info.last_event_id == sent.id
        assert info.queued == 0 and info.waiting == 0.0 and info.bytes_sent > 0
        assert info.opened_at > 0 and isinstance(info.transport, str)

        mine = {c.channel: c for c in open_channels()}
        assert mine[channel].streams == 1 and mine[channel].last_seq == 1
        assert open_channels()[0].membership is not None

        assert disconnect(info.serial + 10_000) is False
        assert disconnect(info.serial) is True
        await stream.wait_ended()
    assert not [info for info in open_streams() if channel in info.channels]
    assert channel not in {c.channel for c in open_channels()}


@streaming
async def test_readable_follows_the_channels_rules(sign_in: Any) -> None:
    alice = await sign_in("alice")
    staff = await sign_in("staff")
    names = ["public", "staff", "room.nowhere", "unregistered.x"]
    assert await readable(alice, names) == [True, False, False, False]
    assert await readable(staff, names) == [True, True, False, False]
    assert channel_pattern("room.lobby") == "room.{slug}"
    assert channel_pattern("public") == "public"
    assert channel_pattern("unregistered.x") is None


# -- messages between processes ---------------------------------------------------


async def test_a_group_message_reaches_the_processes_following_it() -> None:
    hub = ChannelHub.current()
    got: list[dict[str, Any]] = []
    group = f"test-group-{uuid.uuid4().hex[:8]}"
    follower = hub.loop.create_task(follow_group(hub, group, got.append, "the test's group"))
    try:
        for _ in range(200):
            await send_to_group(group, {"type": "test.ping", "n": 1})
            if got:
                break
            await asyncio.sleep(0.05)
        assert got and got[0]["n"] == 1
    finally:
        follower.cancel()
        ChannelHub.reset()
