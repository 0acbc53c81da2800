"""A log restored from a backup, or emptied, numbers new events with seqs clients already hold:
an id it cannot vouch for gets ``reset``, never a silent skip; an id it still holds resumes exactly.

Each id carries, per channel, the check the log keeps with the event at that position
(``<seq>_<check>``); resume compares it with the event the log holds there now.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from sse.wire.cursor import CHECKS
from tests.delivery.client import Event, open_stream
from tests.delivery.conftest import PostgresCluster, finish, fresh_channels

_WAIT = 30


async def _ids_of(site: object, channels: list[str], tag: str, count: int, start: int = 0) -> list[str]:
    """Open a stream, publish ``count`` events, return the id the client had after each."""
    stream = await open_stream(site.url, channels, cookie=site.cookie)  # type: ignore[attr-defined]
    try:
        items = stream.items()
        opening = await asyncio.wait_for(anext(items), _WAIT)
        assert opening.data is None
        await asyncio.to_thread(finish, site.publisher(channels, tag=tag, count=count, start=start))  # type: ignore[attr-defined]
        got = [await asyncio.wait_for(anext(items), _WAIT) for _ in range(count)]
    finally:
        stream.abort()
    assert [(e.event, e.json()["p"], e.json()["i"]) for e in got] == [  # type: ignore[index]
        ("test", tag, i) for i in range(start, start + count)
    ]
    return [e.id for e in got]  # type: ignore[misc]


async def _resume(site: object, channels: list[str], held: str, *, count: int) -> list[Event]:
    """Resume from ``held``; the first ``count`` items after the opening block."""
    stream = await open_stream(site.url, channels, cookie=site.cookie, last_event_id=held)  # type: ignore[attr-defined]
    try:
        items = stream.items()
        opening = await asyncio.wait_for(anext(items), _WAIT)
        assert opening.data is None, opening
        return [await asyncio.wait_for(anext(items), _WAIT) for _ in range(count)]
    finally:
        stream.abort()


async def _reset_then_live(site: object, channels: list[str], held: str, reason: str, *, then: int) -> None:
    """Resuming from ``held`` gives ``reset`` {reason}, then the event published next (i=``then``)."""
    stream = await open_stream(site.url, channels, cookie=site.cookie, last_event_id=held)  # type: ignore[attr-defined]
    try:
        items = stream.items()
        # No opening id (no position is vouched for): the reset comes first, with the heads.
        reset = await asyncio.wait_for(anext(items), _WAIT)
        if reset.event != "reset":
            # A silent resume: show what the client got instead.
            got = [reset]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    async for item in items:
                        got.append(item)
            raise AssertionError(f"no reset for {held}; the client got {got}")
        assert json.loads(reset.data or "") == {"reason": reason}, (held, reset)
        await asyncio.to_thread(finish, site.publisher(channels, tag="new", count=1, start=then))  # type: ignore[attr-defined]
        live = await asyncio.wait_for(anext(items), _WAIT)
    finally:
        stream.abort()
    assert (live.event, live.json()["p"], live.json()["i"]) == ("test", "new", then), live  # type: ignore[index]
    print(f"{held} -> reset {reason}, then {live.id}")


def _seqs(event_id: str) -> str:
    return event_id.split(":")[1]


async def _after_the_restore(site: object, channels: list[str], before: list[str], lost: list[str]) -> None:
    """The log holds ``before`` (ids of events 1..k) again, and lost ``lost`` (k+1..); three new
    events were published on it since: seqs k+1.. once more, another event at each."""
    k = len(before)
    # An id past the restore point, at the head again (k+3) and behind it (k+1, k+2).
    await _reset_then_live(site, channels, lost[2], "restored", then=10)
    await _reset_then_live(site, channels, lost[0], "restored", then=11)
    # The same seq without its check (an id from before checks, or made up): not vouched for either.
    await _reset_then_live(site, channels, lost[1].split("_")[0], "unknown-id", then=12)
    # An id the restored log still holds: exactly what came after it, no reset.
    got = await _resume(site, channels, before[-1], count=6)
    assert [(e.event, e.json()["p"], e.json()["i"]) for e in got] == [  # type: ignore[index]
        ("test", "new", i) for i in (0, 1, 2, 10, 11, 12)
    ], got
    assert [int(_seqs(e.id).split("_")[0]) for e in got] == list(range(k + 1, k + 7))  # type: ignore[union-attr]
    # The new events at the lost seqs carry other checks than the lost ones did.
    assert {e.id for e in got[:3]}.isdisjoint(lost)
    print(f"{before[-1]} -> resumed: {[e.id for e in got]}")


async def test_a_sqlite_database_restored_from_a_backup(make_site: object) -> None:
    site = make_site()
    channels = fresh_channels("restored", 1)
    before = await _ids_of(site, channels, "old", 2)
    # The backup: SQLite's online backup of the live database (what `.backup` does).
    path = Path(site.env["DATABASE_URL"].removeprefix("sqlite:///"))  # type: ignore[attr-defined]
    backup = path.with_name("backup.sqlite3")
    with sqlite3.connect(path) as source, sqlite3.connect(backup) as target:
        source.backup(target)
    lost = await _ids_of(site, channels, "old", 3, start=2)
    print("held:", before, lost)

    # Restored: the server stopped, the backup copied over the database, the server started again.
    await asyncio.to_thread(site.server.stop)  # type: ignore[attr-defined]
    for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(backup, path)
    await asyncio.to_thread(site.restart)  # type: ignore[attr-defined]
    await asyncio.to_thread(finish, site.publisher(channels, tag="new", count=3))  # type: ignore[attr-defined]
    await _after_the_restore(site, channels, before, lost)


def _psql(postgres: PostgresCluster, url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


async def test_a_postgresql_database_restored_under_a_running_server(
    make_site: object, postgres: PostgresCluster
) -> None:
    url = postgres.create_database()
    site = make_site(url)
    channels = fresh_channels("restored-pg", 1)
    before = await _ids_of(site, channels, "old", 2)
    # The backup: pg_dump of the event log's tables (their rows, and the events' id sequence).
    dump = Path(site.server.log_path).with_name("log.sql")  # type: ignore[attr-defined]
    tables = ["-t", "sse_channelhead", "-t", "sse_storedevent", "-t", "sse_logidentity"]
    subprocess.run(
        [str(postgres.bin / "pg_dump"), "--data-only", *tables, "-f", str(dump), url],
        check=True,
        capture_output=True,
        timeout=120,
    )
    lost = await _ids_of(site, channels, "old", 3, start=2)
    print("held:", before, lost)

    # Restored while the server runs: the tables emptied, the dump loaded back.
    await asyncio.to_thread(
        _psql, postgres, url, "TRUNCATE sse_channelhead, sse_storedevent, sse_logidentity"
    )
    subprocess.run(
        [str(postgres.bin / "psql"), "-v", "ON_ERROR_STOP=1", "-q", "-f", str(dump), url],
        check=True,
        capture_output=True,
        timeout=120,
    )
    await asyncio.to_thread(finish, site.publisher(channels, tag="new", count=3))  # type: ignore[attr-defined]
    await _after_the_restore(site, channels, before, lost)


async def test_a_postgresql_log_emptied_under_a_running_server(
    make_site: object, postgres: PostgresCluster
) -> None:
    url = postgres.create_database()
    site = make_site(url)
    channels = fresh_channels("emptied", 1)
    held = await _ids_of(site, channels, "old", 5)
    # A stream open across it: it ends (the log no longer holds what it sent), and its id gets reset.
    stream = await open_stream(site.url, channels, cookie=site.cookie, last_event_id=held[-1])  # type: ignore[attr-defined]
    try:
        items = stream.items()
        opening = await asyncio.wait_for(anext(items), _WAIT)
        assert (opening.data, opening.id) == (None, held[-1])
        await asyncio.to_thread(_psql, postgres, url, "TRUNCATE sse_channelhead, sse_storedevent")
        # Seven new events: seqs 1..7, past the stream's 5 (the group is told by the event before 6).
        await asyncio.to_thread(finish, site.publisher(channels, tag="new", count=7))  # type: ignore[attr-defined]
        after: list[Event] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_WAIT):
                async for item in items:
                    after.append(item)
    finally:
        stream.abort()
    assert stream.ended_cleanly, f"the stream stayed open {_WAIT} s; it got {after}"
    # Nothing of the new log went out as if it followed the old one.
    assert all(item.data is None for item in after), after
    print(f"the open stream ended: {after}")
    await _reset_then_live(site, channels, held[-1], "restored", then=7)
    await _reset_then_live(site, channels, held[1], "restored", then=8)
    # A client that had nothing of the channel (at 0) gets the new log from its start.
    zero = held[0].split(":")[0] + ":0"
    got = await _resume(site, channels, zero, count=9)
    assert [(e.json()["p"], e.json()["i"]) for e in got] == [("new", i) for i in range(9)]  # type: ignore[index]


def _rewrite(path: Path, channel: str, *, new_head: int) -> None:
    """Another history of ``channel`` in one transaction: ``new_head`` events, their own checks."""
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db, db:
        db.execute("DELETE FROM sse_storedevent WHERE channel = ?", [channel])
        db.execute("DELETE FROM sse_channelhead WHERE name = ?", [channel])
        if not new_head:
            return
        checks = [None, *(random.randrange(CHECKS) for _ in range(new_head))]
        db.execute(
            "INSERT INTO sse_channelhead (name, last_seq, last_check, prev_check) VALUES (?, ?, ?, ?)",
            [channel, new_head, checks[new_head], checks[new_head - 1]],
        )
        for seq in range(1, new_head + 1):
            data = json.dumps({"p": "other", "i": seq - 1, "c": channel})
            db.execute(
                "INSERT INTO sse_storedevent (channel, seq, event, data, created, event_check, prev_check)"
                " VALUES (?, ?, 'test', ?, datetime('now'), ?, ?)",
                [channel, seq, data, checks[seq], checks[seq - 1]],
            )


@pytest.mark.parametrize(
    "new_head",
    [
        # Emptied: the hub's log poll finds the head (0) below what it delivered (3).
        0,
        # Another history, longer than the one delivered: the poll reads on from 3, and the
        # event after it does not follow the event the hub delivered as 3 (its prev_check).
        5,
    ],
)
async def test_a_sqlite_log_rewritten_under_a_running_server_ends_its_open_streams(
    make_site: object, new_head: int
) -> None:
    site = make_site()
    channels = fresh_channels("rewritten", 1)
    held = await _ids_of(site, channels, "old", 3)
    path = Path(site.env["DATABASE_URL"].removeprefix("sqlite:///"))  # type: ignore[attr-defined]
    stream = await open_stream(site.url, channels, cookie=site.cookie, last_event_id=held[-1])  # type: ignore[attr-defined]
    try:
        items = stream.items()
        opening = await asyncio.wait_for(anext(items), _WAIT)
        assert (opening.data, opening.id) == (None, held[-1])
        await asyncio.to_thread(_rewrite, path, channels[0], new_head=new_head)
        after: list[Event] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_WAIT):
                async for item in items:
                    after.append(item)
    finally:
        stream.abort()
    assert stream.ended_cleanly and not after, f"the stream stayed open {_WAIT} s; it got {after}"
    if not new_head:
        # Its id is ahead of the emptied log; then three events, and another one stands at 3.
        await _reset_then_live(site, channels, held[-1], "unknown-id", then=0)
        await asyncio.to_thread(finish, site.publisher(channels, tag="new", count=2, start=1))  # type: ignore[attr-defined]
    await _reset_then_live(site, channels, held[-1], "restored", then=10)
    await _reset_then_live(site, channels, held[0], "restored", then=11)
