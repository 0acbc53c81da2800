"""Live behaviour of /sse/stream/ over a real socket: heartbeats, resume, lifetime, logs."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from unittest import mock

import httpx
import pytest

from sse.auth.tokens import issue_token
from sse.wire.cursor import CHECKS, format_check
from tests.sse.conftest import Site, site_fixture
from tests.sse.sse_client import Received, StreamReader, plain_id, position_of

STREAM = "/sse/stream/"
PUBLISH = "/api/sse/publish/"


def publish(staff: httpx.Client, channel: str, n: int, event: str = "tick") -> str:
    response = staff.post(PUBLISH, json={"channel": channel, "event": event, "data": {"n": n}})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def numbers(events: list[Received]) -> list[int]:
    return [event.json()["n"] for event in events]


# -- heartbeats -----------------------------------------------------------------


def test_idle_stream_gets_heartbeat_comments(alice: httpx.Client) -> None:
    # The site runs with SSE_HEARTBEAT_SECONDS=1; the default (15 s) would miss this deadline.
    with alice.stream("GET", STREAM, params={"channel": "scratch.idle"}) as response:
        reader = StreamReader(response)
        comments = reader.comments(2, timeout=12)
    assert comments == ["ping", "ping"]
    assert reader.state.events == []
    assert b"\n: ping\n\n" in reader.raw


# -- resume -------------------------------------------------------------------------


@pytest.fixture
def channel(request: pytest.FixtureRequest) -> str:
    # One channel per test (and parameter): tests never see each other's events.
    return "scratch." + re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name.removeprefix("test_"))[:70]


def test_last_event_id_header_replays_then_goes_live(
    channel: str, alice: httpx.Client, staff: httpx.Client
) -> None:
    ids = [publish(staff, channel, n) for n in (1, 2, 3)]
    headers = {"Last-Event-ID": ids[0]}
    with alice.stream("GET", STREAM, params={"channel": channel}, headers=headers) as response:
        reader = StreamReader(response)
        replayed = reader.events(2)
        ids.append(publish(staff, channel, 4))
        [live] = reader.events(1)
    assert numbers([*replayed, live]) == [2, 3, 4]
    assert [e.id for e in [*replayed, live]] == ids[1:]


def test_last_event_id_query_parameter(channel: str, alice: httpx.Client, staff: httpx.Client) -> None:
    ids = [publish(staff, channel, n) for n in (1, 2, 3)]
    with alice.stream("GET", STREAM, params={"channel": channel, "lastEventId": ids[1]}) as response:
        reader = StreamReader(response)
        [replayed] = reader.events(1)
        publish(staff, channel, 4)
        [live] = reader.events(1)
    assert numbers([replayed, live]) == [3, 4]


def _opening_id(reader: StreamReader) -> str:
    """The id of the stream's first block (read until the block ends)."""
    while b"\n\n" not in reader.raw:
        reader.read_bytes(len(reader.raw) + 1)
    return reader.state.parser.last_event_id


def test_a_resumed_stream_opens_with_its_cursor(
    channel: str, alice: httpx.Client, staff: httpx.Client
) -> None:
    # A client that comes back again before the first event still has where it was.
    ids = [publish(staff, channel, n) for n in (1, 2)]
    with alice.stream("GET", STREAM, params={"channel": channel, "lastEventId": ids[0]}) as response:
        reader = StreamReader(response)
        assert _opening_id(reader) == ids[0]
        [replayed] = reader.events(1)
    assert replayed.id == ids[1]


def test_a_star_seq_starts_that_channel_at_its_head(
    channel: str, alice: httpx.Client, staff: httpx.Client
) -> None:
    # What sse.js sends when a tab adds a channel to the stream its browser shares:
    # the channels it had resume exactly, the new one starts now.
    had, added = channel + "-a", channel + "-b"
    ids = []
    for n in (1, 2, 3):
        ids.append(publish(staff, had, n))
        publish(staff, added, n)
    params = {"channel": [had, added]}
    with alice.stream("GET", STREAM, params=params) as response:
        head = _opening_id(StreamReader(response))  # <log>-<tag>:3_<check>.3_<check>
    prefix, _, seqs = head.rpartition(":")
    assert plain_id(seqs) == "3.3"
    # The position it had (event 1 of `had`, with its check), and "*" for the added channel.
    resume = f"{prefix}:{position_of(ids[0])}.*"
    with alice.stream("GET", STREAM, params={**params, "lastEventId": resume}) as response:
        reader = StreamReader(response)
        opening = _opening_id(reader)
        assert plain_id(opening) == f"{prefix}:1.3" and opening.startswith(resume[:-1])
        replayed = reader.events(2)
        publish(staff, added, 4)
        [live] = reader.events(1)
    assert [(plain_id(e.id), e.json()["n"]) for e in [*replayed, live]] == [
        (f"{prefix}:2.3", 2),
        (f"{prefix}:3.3", 3),
        (f"{prefix}:3.4", 4),
    ]


def test_header_wins_over_query_parameter(channel: str, alice: httpx.Client, staff: httpx.Client) -> None:
    ids = [publish(staff, channel, n) for n in (1, 2, 3)]
    params = {"channel": channel, "lastEventId": ids[2]}
    with alice.stream("GET", STREAM, params=params, headers={"Last-Event-ID": ids[0]}) as response:
        events = StreamReader(response).events(2)
    assert numbers(events) == [2, 3]


def test_resume_from_the_latest_id_replays_nothing(
    channel: str, alice: httpx.Client, staff: httpx.Client
) -> None:
    ids = [publish(staff, channel, n) for n in (1, 2)]
    with alice.stream(
        "GET", STREAM, params={"channel": channel}, headers={"Last-Event-ID": ids[-1]}
    ) as response:
        reader = StreamReader(response)
        reader.read_bytes(7)
        publish(staff, channel, 3)
        events = reader.events(1)
    assert numbers(events) == [3]


@pytest.mark.parametrize(
    ("last_id", "reason"),
    [
        ("nonsense", "malformed"),
        ("abc:1", "other-channels"),
        ("{tag}:999999", "unknown-id"),
        ("{tag}:1.1", "other-channels"),
        ("{tag}:0_0001", "malformed"),  # seq 0 has no event, so no check
        ("{tag}:1", "unknown-id"),  # event 1 without its check: an id from before checks
        ("{tag}:1_{other}", "restored"),  # another event's check: the log is not the one it read
    ],
)
def test_unusable_id_gives_reset_then_live(
    channel: str, alice: httpx.Client, staff: httpx.Client, last_id: str, reason: str
) -> None:
    first = publish(staff, channel, 1)
    tag, check = first.split(":")[0], first.partition("_")[2]
    other = format_check((int(check, 36) + 1) % CHECKS)
    with alice.stream(
        "GET",
        STREAM,
        params={"channel": channel},
        headers={"Last-Event-ID": last_id.format(tag=tag, other=other)},
    ) as response:
        assert response.status_code == 200
        reader = StreamReader(response)
        [reset] = reader.events(1)
        publish(staff, channel, 2)
        [live] = reader.events(1)
    assert (reset.event, reset.json()) == ("reset", {"reason": reason})
    assert (live.event, live.json()["n"]) == ("tick", 2)
    assert plain_id(live.id) == f"{tag}:2"


def test_replay_while_publishing_has_no_gap_and_no_duplicate(
    channel: str, alice: httpx.Client, site: Site
) -> None:
    publisher = site.client("staff")
    ids = [publish(publisher, channel, n) for n in range(1, 21)]
    errors: list[BaseException] = []

    def publish_more() -> None:
        try:
            for n in range(21, 61):
                publish(publisher, channel, n)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=publish_more)
    with alice.stream(
        "GET", STREAM, params={"channel": channel}, headers={"Last-Event-ID": ids[4]}
    ) as response:
        reader = StreamReader(response)
        thread.start()
        events = reader.events(55, timeout=120)
    thread.join(120)
    assert not errors, errors
    assert numbers(events) == list(range(6, 61))
    assert len({e.id for e in events}) == 55


def test_resume_across_several_channels(alice: httpx.Client, staff: httpx.Client) -> None:
    a, b = "scratch.multi-a", "scratch.multi-b"
    with alice.stream("GET", STREAM, params=[("channel", a), ("channel", b)]) as response:
        reader = StreamReader(response)
        reader.read_bytes(7)
        publish(staff, a, 1)
        publish(staff, b, 101)
        first = reader.events(2)
    assert numbers(first) == [1, 101]
    cursor = first[-1].id
    tag = cursor.split(":")[0]
    assert plain_id(cursor) == f"{tag}:1.1"
    publish(staff, a, 2)
    publish(staff, b, 102)
    publish(staff, a, 3)
    # Same channels in another order: the same stream, so the cursor still fits.
    params = [("channel", b), ("channel", a)]
    with alice.stream("GET", STREAM, params=params, headers={"Last-Event-ID": cursor}) as response:
        missed = StreamReader(response).events(3)
    # Replay merges the channels in the order they were published; ids track both positions.
    assert numbers(missed) == [2, 102, 3]
    assert [plain_id(e.id) for e in missed] == [f"{tag}:2.1", f"{tag}:2.2", f"{tag}:3.2"]


# -- lifetime and logs ------------------------------------------------------------


short_site = site_fixture(
    "short_site", "A server whose streams end after about 2 s.", SSE_MAX_LIFETIME_SECONDS="2"
)


def test_stream_ends_cleanly_after_its_lifetime(short_site: Site) -> None:
    client = short_site.client("alice")
    with client.stream("GET", STREAM, params={"channel": "public"}, timeout=60) as response:
        assert response.status_code == 200
        body = response.read()  # returns only because the server ends the stream
    assert body.startswith(b"retry: ")


def wait_for_log(site: Site, needle: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = site.server.log()
        if log.count(needle) >= 1:
            return log
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} not in the access log:\n{site.server.log()[-3000:]}")


def test_tokens_never_reach_the_access_log(short_site: Site) -> None:
    alice = short_site.users["alice"]
    anonymous = short_site.client()
    valid = issue_token(alice, ["public"]).token
    with mock.patch("time.time", return_value=time.time() - 600):
        expired = issue_token(alice, ["public"]).token
    other_channel = issue_token(alice, [f"user.{alice}"]).token
    tampered = valid[:-3] + "AAA"
    secrets = {valid, expired, other_channel, tampered}

    with anonymous.stream("GET", STREAM, params={"channel": "public", "token": valid}, timeout=60) as r:
        assert r.status_code == 200
        r.read()  # the stream completes (lifetime), so Daphne logs it
    statuses = [
        anonymous.get(STREAM, params={"channel": "public", "token": expired}).status_code,
        anonymous.get(STREAM, params={"channel": "public", "token": tampered}).status_code,
        anonymous.get(STREAM, params={"channel": "public", "token": other_channel}).status_code,
        anonymous.get(STREAM, params={"access_token": valid, "channel": "nope nope"}).status_code,
    ]
    assert statuses == [401, 401, 403, 400]
    log = wait_for_log(short_site, '"GET /sse/stream/?access_token=[redacted]&channel=nope+nope')
    assert log.count("token=[redacted]") >= 5, log[-3000:]
    for secret in secrets:
        assert secret not in log
        # Nor any long piece of it (a partial redaction would still leak).
        assert secret.split(":")[0] not in log
    assert Path(short_site.server.log_path or "").stat().st_size > 0
