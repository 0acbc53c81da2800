"""Ids name their event log: an id from a database since recreated gets ``reset``, never a silent skip."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.delivery.client import open_stream
from tests.delivery.conftest import _prepare, finish, fresh_channels


async def _take_an_id(site: object, channels: list[str], tag: str) -> str:
    """Open a stream, publish one event, return the id the client has after it."""
    stream = await open_stream(site.url, channels, cookie=site.cookie)
    try:
        items = stream.items()
        opening = await anext(items)
        assert opening.data is None and opening.id is not None
        await asyncio.to_thread(finish, site.publisher(channels, tag=tag, count=1))
        first = await asyncio.wait_for(anext(items), 30)
    finally:
        stream.abort()
    assert first.id is not None and _seqs(first.id) == "1" and first.json()["p"] == tag
    return first.id


async def test_an_id_of_a_recreated_database_gets_reset_then_live_events(make_site: object) -> None:
    site = make_site()
    channels = fresh_channels("epoch", 1)
    # Server 1 on database A: the client takes the id of event 1.
    held = await _take_an_id(site, channels, "a")
    assert "-" in held.split(":")[0], f"the id does not name its log: {held}"

    # Stop; the database is deleted, migrated and seeded again; server 2 starts on it.
    await asyncio.to_thread(site.server.stop)
    path = Path(site.env["DATABASE_URL"].removeprefix("sqlite:///"))
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    cookie, _staff = await asyncio.to_thread(_prepare, site.env)
    await asyncio.to_thread(site.restart)
    # Three events: seqs 1..3 again, so the old id's position (1) is inside the new log.
    await asyncio.to_thread(finish, site.publisher(channels, tag="b", count=3))

    stream = await open_stream(site.url, channels, cookie=cookie, last_event_id=held)
    try:
        items = stream.items()
        reset = await asyncio.wait_for(anext(items), 30)
        # Not events 2 and 3 of the new log as if they followed event 1 of the old one.
        assert (reset.event, json.loads(reset.data or "")) == ("reset", {"reason": "other-log"}), reset
        tag = reset.id.split(":")[0]  # type: ignore[union-attr]
        assert _seqs(reset.id) == "3" and tag != held.split(":")[0]  # type: ignore[arg-type]
        await asyncio.to_thread(finish, site.publisher(channels, tag="b", count=1, start=3))
        live = await asyncio.wait_for(anext(items), 30)
    finally:
        stream.abort()
    assert (live.event, live.id.split(":")[0], _seqs(live.id), live.json()["i"]) == ("test", tag, "4", 3)  # type: ignore[index,union-attr]


async def test_ids_stay_valid_across_a_restart_on_the_same_database(make_site: object) -> None:
    site = make_site()
    channels = fresh_channels("epoch-same", 1)
    held = await _take_an_id(site, channels, "a")
    await asyncio.to_thread(site.server.stop)
    await asyncio.to_thread(site.restart)
    await asyncio.to_thread(finish, site.publisher(channels, tag="a", count=2, start=1))
    stream = await open_stream(site.url, channels, cookie=site.cookie, last_event_id=held)
    try:
        items = stream.items()
        opening = await asyncio.wait_for(anext(items), 30)
        got = [await asyncio.wait_for(anext(items), 30) for _ in range(2)]
    finally:
        stream.abort()
    # The resumed stream opens at the id it was given (a client back before the first event keeps it).
    assert (opening.data, opening.id) == (None, held)
    tag = held.split(":")[0]
    assert [(e.event, e.id.split(":")[0], _seqs(e.id), e.json()["i"]) for e in got] == [  # type: ignore[index,union-attr]
        ("test", tag, "2", 1),
        ("test", tag, "3", 2),
    ]


def _seqs(event_id: str) -> str:
    """The seqs of an id, without the checks of their events."""
    return ".".join(p.partition("_")[0] for p in event_id.split(":")[1].split("."))
