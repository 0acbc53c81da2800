"""sse.testing: the parser to the byte (WHATWG HTML §9.2.6), connect() against the app in process,
and the recipe of docs/testing.md run as a user would run it."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import AsyncClient, Client, TestCase, TransactionTestCase

import sse
import sse.testing
from sse.hub.channel_hub import ChannelHub
from sse.testing import EventParser, ReceivedEvent, parse_events
from tests.delivery.conftest import PostgresCluster, postgres  # noqa: F401  (the cluster fixture)
from tests.servers import PYTHON, ROOT
from tests.sse.conftest import SSE_SETTINGS, sse_env

# -- the parser ---------------------------------------------------------------

M = "message"

# (the stream's bytes, the events it dispatches as (type, data, id))
DISPATCH_CASES = [
    pytest.param(b"data: a\n\n", [(M, "a", "")], id="lf-line-ends"),
    pytest.param(b"data: a\r\n\r\n", [(M, "a", "")], id="crlf-line-ends"),
    pytest.param(b"data: a\r\r", [(M, "a", "")], id="cr-line-ends"),
    pytest.param(b"data: a\rdata: b\r\ndata: c\n\r\n", [(M, "a\nb\nc", "")], id="mixed-line-ends"),
    pytest.param(b"data: a\n\r\n\r\ndata: b\n\n", [(M, "a", ""), (M, "b", "")], id="extra-blank-lines"),
    pytest.param(b"data: a\ndata: b\n\n", [(M, "a\nb", "")], id="data-lines-joined-with-lf"),
    pytest.param(b"data\n\n", [(M, "", "")], id="field-without-colon-has-empty-value"),
    pytest.param(b"data:\n\n", [(M, "", "")], id="empty-data-dispatches-empty-string"),
    pytest.param(b"data\ndata\n\n", [(M, "\n", "")], id="two-empty-data-lines-give-one-lf"),
    pytest.param(b"data: a\ndata:\n\n", [(M, "a\n", "")], id="only-the-last-lf-is-removed"),
    pytest.param(b"data:a\n\n", [(M, "a", "")], id="no-space-after-colon"),
    pytest.param(b"data:  a\n\n", [(M, " a", "")], id="only-one-leading-space-stripped"),
    pytest.param(b"data:\ta\n\n", [(M, "\ta", "")], id="a-tab-is-not-stripped"),
    pytest.param(b"data: a \n\n", [(M, "a ", "")], id="trailing-space-kept"),
    pytest.param(b"data: a:b: c\n\n", [(M, "a:b: c", "")], id="colons-in-the-value-kept"),
    pytest.param(b"event: tick\ndata: a\n\n", [("tick", "a", "")], id="event-sets-the-type"),
    pytest.param(b"data: a\n\n", [(M, "a", "")], id="type-defaults-to-message"),
    pytest.param(b"event:\ndata: a\n\n", [(M, "a", "")], id="empty-event-is-message"),
    pytest.param(
        b"event: tick\ndata: a\n\ndata: b\n\n", [("tick", "a", ""), (M, "b", "")], id="type-resets-per-block"
    ),
    pytest.param(b"event: a\nevent: b\ndata: x\n\n", [("b", "x", "")], id="the-last-event-field-wins"),
    pytest.param(b"event: tick\n\ndata: a\n\n", [(M, "a", "")], id="type-of-a-block-without-data-is-dropped"),
    pytest.param(b"event: tick\n\n", [], id="block-without-data-dispatches-nothing"),
    pytest.param(b"id: 1\n\n", [], id="id-only-block-dispatches-nothing"),
    pytest.param(b": hello\n\n", [], id="comment-only-block-dispatches-nothing"),
    pytest.param(b"data: a\n: note\ndata: b\n\n", [(M, "a\nb", "")], id="comment-inside-a-block-ignored"),
    pytest.param(b"Data: a\nDATA: b\n\n", [], id="field-names-are-case-sensitive"),
    pytest.param(b"foo: bar\ndata: a\n\n", [(M, "a", "")], id="unknown-field-ignored"),
    pytest.param(b" data: a\n\n", [], id="leading-space-makes-another-field"),
    pytest.param(b"data: a", [], id="unterminated-line-not-processed"),
    pytest.param(b"data: a\n", [], id="block-without-its-blank-line-not-dispatched"),
    pytest.param(b"id: 7\ndata: a\n\n", [(M, "a", "7")], id="id-is-the-events-id"),
    pytest.param(b"data: a\nid: 7\n\n", [(M, "a", "7")], id="id-after-data-still-counts"),
    pytest.param(b"id: 7\ndata: a\n\ndata: b\n\n", [(M, "a", "7"), (M, "b", "7")], id="id-persists"),
    pytest.param(b"id: 7\n\ndata: a\n\n", [(M, "a", "7")], id="id-only-block-sets-the-id"),
    pytest.param(b"id: 7\ndata: a\n\nid\ndata: b\n\n", [(M, "a", "7"), (M, "b", "")], id="empty-id-resets"),
    pytest.param(b"id: 7\n\nid: 8\x009\ndata: a\n\n", [(M, "a", "7")], id="id-with-nul-ignored"),
    pytest.param(b"data: a\x00b\n\n", [(M, "a\x00b", "")], id="nul-in-data-kept"),
    pytest.param(b"id: 7\ndata: a\nid: 8\n\n", [(M, "a", "8")], id="the-last-id-field-wins"),
    pytest.param(b"\xef\xbb\xbfdata: a\n\n", [(M, "a", "")], id="leading-bom-stripped"),
    pytest.param(
        b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n", [(M, "b", "")], id="only-one-leading-bom-stripped"
    ),
    pytest.param(
        b"data: a\n\n\xef\xbb\xbfdata: b\n\n", [(M, "a", "")], id="bom-later-in-the-stream-is-not-stripped"
    ),
    pytest.param(
        "data: h\u00e9 \u2713 \U0001f600\n\n".encode(), [(M, "h\u00e9 \u2713 \U0001f600", "")], id="utf8"
    ),
    pytest.param(b"data: a\xffb\n\n", [(M, "a\ufffdb", "")], id="invalid-utf8-replaced"),
    pytest.param(
        "data: a\u2028b\x85c\x0cd\n\n".encode(), [(M, "a\u2028b\x85c\x0cd", "")], id="only-cr-lf-break"
    ),
    pytest.param(b"retry: 10\ndata: a\n\n", [(M, "a", "")], id="retry-dispatches-nothing-itself"),
]

# (the stream's bytes, last_event_id, retry, comments) once it is all parsed
STATE_CASES = [
    pytest.param(b"", "", None, [], id="nothing"),
    pytest.param(b"id: 7\n\n", "7", None, [], id="id-only-block-sets-last-event-id"),
    pytest.param(b"id: 7\n", "", None, [], id="id-takes-effect-at-the-blank-line"),
    pytest.param(b"id: 7\n\nid:\n\n", "", None, [], id="empty-id-resets-last-event-id"),
    pytest.param(b"id: 7\n\nid: \x00\n\n", "7", None, [], id="id-with-nul-leaves-last-event-id"),
    pytest.param(b"id: 7\n\ndata: a\n\n", "7", None, [], id="a-block-without-id-keeps-it"),
    pytest.param(b"retry: 1000\n", "", 1000, [], id="retry-takes-effect-at-once"),
    pytest.param(b"retry: 0\n\n", "", 0, [], id="retry-zero"),
    pytest.param(b"retry: 1000\n\nretry: 20\n\n", "", 20, [], id="the-last-retry-wins"),
    pytest.param(b"retry: 1000\n\nretry: 1.5\n\n", "", 1000, [], id="retry-with-a-dot-ignored"),
    pytest.param(b"retry: -1\n\n", "", None, [], id="negative-retry-ignored"),
    pytest.param(b"retry: 10a\n\n", "", None, [], id="retry-with-a-letter-ignored"),
    pytest.param(b"retry:\n\n", "", None, [], id="empty-retry-ignored"),
    pytest.param(b"retry:  10\n\n", "", None, [], id="retry-with-a-second-space-ignored"),
    pytest.param("retry: \u0661\u0662\n\n".encode(), "", None, [], id="retry-non-ascii-digits-ignored"),
    pytest.param(b": ping\n\n", "", None, ["ping"], id="comment"),
    pytest.param(b":ping\n:\n:  two\n", "", None, ["ping", "", " two"], id="comments-one-space-stripped"),
]


def dispatched(events: list[ReceivedEvent]) -> list[tuple[str, str, str]]:
    return [(e.event, e.data, e.id) for e in events]


def feed_all(pieces: list[bytes]) -> tuple[EventParser, list[ReceivedEvent]]:
    parser = EventParser()
    events: list[ReceivedEvent] = []
    for piece in pieces:
        events.extend(parser.feed(piece))
    return parser, events


@pytest.mark.parametrize(("stream", "expected"), DISPATCH_CASES)
def test_parser_dispatches(stream: bytes, expected: list[tuple[str, str, str]]) -> None:
    assert dispatched(parse_events(stream)) == expected


@pytest.mark.parametrize(("stream", "expected"), DISPATCH_CASES)
def test_parser_byte_by_byte(stream: bytes, expected: list[tuple[str, str, str]]) -> None:
    _, events = feed_all([stream[i : i + 1] for i in range(len(stream))])
    assert dispatched(events) == expected


@pytest.mark.parametrize(("stream", "expected"), DISPATCH_CASES)
def test_parser_cut_anywhere(stream: bytes, expected: list[tuple[str, str, str]]) -> None:
    for cut in range(len(stream) + 1):
        _, events = feed_all([stream[:cut], stream[cut:]])
        assert dispatched(events) == expected, f"cut at byte {cut}"


@pytest.mark.parametrize(("stream", "last_event_id", "retry", "comments"), STATE_CASES)
def test_parser_state(stream: bytes, last_event_id: str, retry: int | None, comments: list[str]) -> None:
    for pieces in ([stream], [stream[i : i + 1] for i in range(len(stream))]):
        parser, _ = feed_all(pieces)
        assert (parser.last_event_id, parser.retry, parser.comments) == (last_event_id, retry, comments)


# Each piece, and what feeding it returns: events go out at the line end that completes them.
PIECE_CASES = [
    pytest.param(
        [b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"],
        [[], [], [(M, "a\nb", "")], []],
        id="crlf-split-between-cr-and-lf-is-one-line-end",
    ),
    pytest.param(
        [b"data: a\r", b"data: b\r", b"\r"], [[], [], [(M, "a\nb", "")]], id="cr-at-a-piece-end-then-no-lf"
    ),
    pytest.param([b"data: a\r", b"\r"], [[], [(M, "a", "")]], id="cr-then-cr-is-a-blank-line"),
    pytest.param(
        [b"data: a\r", b"", b"\n\n"], [[], [], [(M, "a", "")]], id="an-empty-piece-keeps-the-pending-cr"
    ),
    pytest.param(
        [b"data: caf\xc3", b"\xa9\n\n"], [[], [(M, "caf\u00e9", "")]], id="utf8-character-split-across-pieces"
    ),
    pytest.param(
        [b"data: \xf0\x9f", b"\x98", b"\x80\n", b"\n"],
        [[], [], [], [(M, "\U0001f600", "")]],
        id="4-byte-split",
    ),
    pytest.param([b"\xef\xbb", b"\xbfdata: a\n\n"], [[], [(M, "a", "")]], id="bom-split-across-pieces"),
    pytest.param([b"data: a\n", b"\n"], [[], [(M, "a", "")]], id="dispatched-by-the-blank-line"),
    pytest.param([b"data: a\n\nda", b"ta: b\n\n"], [[(M, "a", "")], [(M, "b", "")]], id="field-name-split"),
]


@pytest.mark.parametrize(("pieces", "returns"), PIECE_CASES)
def test_parser_pieces(pieces: list[bytes], returns: list[list[tuple[str, str, str]]]) -> None:
    parser = EventParser()
    assert [dispatched(parser.feed(piece)) for piece in pieces] == returns


def test_parse_events_takes_text() -> None:
    assert parse_events("event: tick\ndata: caf\u00e9\n\n") == [ReceivedEvent("tick", "caf\u00e9", "")]


def test_received_event_json_and_frozen() -> None:
    event = ReceivedEvent("order", '{"status": "shipped"}', "x:1")
    assert event.json() == {"status": "shipped"}
    with pytest.raises(AttributeError):
        event.data = "other"  # type: ignore[misc]


def test_what_the_hub_writes_parses_back() -> None:
    from sse.wire.encoding import encode_body

    stream = b"retry: 2000\nid: t:0\n\n" + b"id: t:1\n" + encode_body("tick", "a\nb") + b": ping\n\n"
    parser, events = feed_all([stream])
    assert dispatched(events) == [("tick", "a\nb", "t:1")]
    assert (parser.retry, parser.last_event_id, parser.comments) == (2000, "t:1", ["ping"])


# -- connect() ------------------------------------------------------------------

# Streams are read on the hub's threads and published from asgiref's: only committed
# events go out (docs/testing.md).
streaming = pytest.mark.django_db(transaction=True)


@pytest.fixture
def users(transactional_db: None) -> dict[str, int]:
    """The sse_app users (alice, bob, staff, clerk): pk by name."""
    out = io.StringIO()
    call_command("sse_app_users", stdout=out)
    return {name: int(pk) for name, pk in re.findall(r"^(\w+) (\d+)$", out.getvalue(), re.M)}


@pytest.fixture
def sign_in(async_client: AsyncClient, users: dict[str, int]) -> Callable[[str], Awaitable[int]]:
    async def as_user(name: str) -> int:
        await async_client.aforce_login(await get_user_model().objects.aget(pk=users[name]))
        return users[name]

    return as_user


def open_streams() -> int:
    return ChannelHub.current().stats().streams


@streaming
async def test_the_contract_example(async_client: AsyncClient, sign_in: Any) -> None:
    await sign_in("staff")  # staff may read any customer's orders
    async with sse.testing.connect(async_client, "/sse/stream/?channel=orders.customer.1") as stream:
        assert stream.status_code == 200  # connect() returns once the stream is subscribed
        await sse.apublish("orders.customer.1", {"status": "shipped"}, event="order")
        event = await stream.next_event(timeout=5)
        assert event.event == "order" and event.json() == {"status": "shipped"}  # also event.id, event.data


@streaming
async def test_connect_returns_once_the_stream_is_subscribed(async_client: AsyncClient, sign_in: Any) -> None:
    await sign_in("alice")
    async with sse.testing.connect(async_client, "/sse/stream/?channel=scratch.subscribed") as stream:
        assert open_streams() == 1
        assert stream.retry == 2000 and stream.last_event_id  # the opening block came
        # Published the moment connect() returned, from a thread as a task would.
        sent = await asyncio.to_thread(sse.publish, "scratch.subscribed", {"n": 1}, event="tick")
        event = await stream.next_event()
        assert (event.event, event.json(), event.id) == ("tick", {"n": 1}, sent)
        assert stream.last_event_id == sent
        assert stream.headers["Content-Type"].startswith("text/event-stream")


@streaming
async def test_events_in_publish_order(async_client: AsyncClient, sign_in: Any) -> None:
    await sign_in("alice")
    async with sse.testing.connect(async_client, "/sse/stream/?channel=scratch.order") as stream:
        for n in range(5):
            await sse.apublish("scratch.order", {"n": n})
        assert [e.json()["n"] for e in await stream.events(5)] == [0, 1, 2, 3, 4]
        assert {e.event for e in stream.received} == {"message"}


@streaming
async def test_a_channel_the_stream_is_not_on_sends_nothing(async_client: AsyncClient, sign_in: Any) -> None:
    await sign_in("alice")
    async with sse.testing.connect(async_client, "/sse/stream/?channel=scratch.mine") as stream:
        await sse.apublish("scratch.other", {"n": 1})
        await stream.assert_no_event(within=0.5)
        await sse.apublish("scratch.mine", {"n": 2})
        assert (await stream.next_event()).json() == {"n": 2}


@streaming
async def test_assert_no_event_fails_when_an_event_comes(async_client: AsyncClient, sign_in: Any) -> None:
    await sign_in("alice")
    async with sse.testing.connect(async_client, "/sse/stream/?channel=scratch.noisy") as stream:
        await sse.apublish("scratch.noisy", {"n": 1}, event="tick")
        with pytest.raises(AssertionError, match=r"expected no event, got 1: .*'tick'"):
            await stream.assert_no_event(within=30)  # fails as the event arrives, not after 30 s


@streaming
async def test_next_event_times_out_with_what_came_and_the_hint(
    async_client: AsyncClient, sign_in: Any
) -> None:
    await sign_in("alice")
    async with sse.testing.connect(async_client, "/sse/stream/?channel=scratch.quiet") as stream:
        with pytest.raises(AssertionError) as timed_out:
            await stream.next_event(timeout=0.2)
        message = str(timed_out.value)
        assert "no event within 0.2 s; the stream is still open" in message
        assert "0 events received" in message and "retry: 2000" in message
        assert "@pytest.mark.django_db(transaction=True)" in message

        await sse.apublish("scratch.quiet", {"n": 1})
        with pytest.raises(AssertionError, match=r"1 of 2 events within 0\.2 s"):
            await stream.events(2, timeout=0.2)


REFUSALS = [
    pytest.param(
        None, "/sse/stream/?channel=public", 401, "sign in, or pass a stream token", id="anonymous-401"
    ),
    pytest.param(
        "alice", "/sse/stream/?channel=staff", 403, "not allowed to read channel staff", id="forbidden-403"
    ),
    pytest.param("alice", "/sse/stream/", 400, "name at least one channel", id="no-channel-400"),
    pytest.param("alice", "/sse/stream/?channel=room.nowhere", 404, "no room nowhere", id="no-such-room-404"),
]


@streaming
@pytest.mark.parametrize(("user", "path", "status", "body"), REFUSALS)
async def test_refusals_are_returned_unread(
    async_client: AsyncClient, sign_in: Any, user: str | None, path: str, status: int, body: str
) -> None:
    if user is not None:
        await sign_in(user)
    async with sse.testing.connect(async_client, path) as stream:
        assert stream.status_code == status
        assert body in stream.text
        assert stream.headers["Content-Type"].startswith("text/plain")
        assert stream.ended
        await stream.wait_ended()
        with pytest.raises(AssertionError, match=rf"answered {status} text/plain.*{re.escape(body)}"):
            await stream.next_event()
        with pytest.raises(AssertionError, match=rf"answered {status}"):
            await stream.events(1)
        with pytest.raises(AssertionError, match="proves nothing"):
            await stream.assert_no_event()
    assert open_streams() == 0


@streaming
async def test_resume_with_last_event_id(async_client: AsyncClient, sign_in: Any) -> None:
    await sign_in("alice")
    path = "/sse/stream/?channel=scratch.resume"
    async with sse.testing.connect(async_client, path) as stream:
        await sse.apublish("scratch.resume", {"n": 1})
        assert (await stream.next_event()).json() == {"n": 1}
        seen = stream.last_event_id
    # Published while no one was connected.
    await sse.apublish("scratch.resume", {"n": 2})
    await sse.apublish("scratch.resume", {"n": 3})
    async with sse.testing.connect(async_client, path, last_event_id=seen) as stream:
        missed = await stream.events(2)
        assert [e.json() for e in missed] == [{"n": 2}, {"n": 3}]
        assert stream.last_event_id == missed[-1].id != seen
        await sse.apublish("scratch.resume", {"n": 4})
        assert (await stream.next_event()).json() == {"n": 4}  # then live, nothing twice
        await stream.assert_no_event(within=0.2)


@streaming
async def test_an_id_of_other_channels_gets_a_reset(async_client: AsyncClient, sign_in: Any) -> None:
    await sign_in("alice")
    path = "/sse/stream/?channel=scratch.reset"
    async with sse.testing.connect(async_client, path, last_event_id="abc:12") as stream:
        event = await stream.next_event()
        assert (event.event, event.json()) == ("reset", {"reason": "other-channels"})
        assert event.id == stream.last_event_id != "abc:12"  # where the stream starts again


@streaming
async def test_no_subscription_is_left_after_the_block(async_client: AsyncClient, sign_in: Any) -> None:
    await sign_in("alice")
    async with sse.testing.connect(async_client, "/sse/stream/?channel=scratch.a") as first:
        async with sse.testing.connect(async_client, "/sse/stream/?channel=scratch.b"):
            assert open_streams() == 2
        assert open_streams() == 1
        await sse.apublish("scratch.a", {"n": 1})
        assert (await first.next_event()).json() == {"n": 1}
    assert open_streams() == 0
    assert ChannelHub.current().stats().groups == 0

    with pytest.raises(RuntimeError, match="the test failed"):
        async with sse.testing.connect(async_client, "/sse/stream/?channel=scratch.a"):
            assert open_streams() == 1
            raise RuntimeError("the test failed")
    assert open_streams() == 0


@streaming
async def test_a_server_shutdown_ends_the_stream(async_client: AsyncClient, sign_in: Any) -> None:
    await sign_in("alice")
    async with sse.testing.connect(async_client, "/sse/stream/?channel=scratch.shutdown") as stream:
        await ChannelHub.current().stop()  # what SIGTERM does: browsers reconnect and resume
        await stream.wait_ended()
        assert stream.ended
    assert open_streams() == 0


@streaming
async def test_a_stream_the_server_ends(async_client: AsyncClient, sign_in: Any, settings: Any) -> None:
    settings.SSE_MAX_STREAMS_PER_USER = 1
    await sign_in("alice")
    async with sse.testing.connect(async_client, "/sse/stream/?channel=public") as kept:
        # Over the cap: 200, a retry in 10 s and a comment, then the end.
        async with sse.testing.connect(async_client, "/sse/stream/?channel=public") as turned_away:
            await turned_away.wait_ended()
            assert turned_away.ended and turned_away.status_code == 200
            assert turned_away.retry == 10000
            assert turned_away.comments == ["too many open streams for this user"]
            with pytest.raises(AssertionError, match="the server ended the stream"):
                await turned_away.next_event(timeout=5)
        assert not kept.ended
        with pytest.raises(AssertionError, match=r"had not ended the stream after 0\.1 s"):
            await kept.wait_ended(timeout=0.1)


async def test_a_stream_of_the_apps_own(async_client: AsyncClient) -> None:
    async with sse.testing.connect(async_client, "/countdown/") as stream:
        events = await stream.events(3)
        assert [(e.event, e.json()["n"], e.id) for e in events] == [
            ("count", 3, "count:3"),
            ("count", 2, "count:2"),
            ("count", 1, "count:1"),
        ]
        await stream.wait_ended()
        assert stream.last_event_id == "count:1" and stream.retry == 2000


async def test_a_stream_that_ends_without_a_byte(async_client: AsyncClient) -> None:
    async with sse.testing.connect(async_client, "/countdown/?from=0&opening=0") as stream:
        assert stream.ended and stream.text == ""
        with pytest.raises(AssertionError, match="no event within 30 s; the server ended the stream"):
            await stream.next_event(timeout=30)  # fails at once: nothing more can come


async def test_a_stream_that_sends_nothing_fails_connect(async_client: AsyncClient) -> None:
    with pytest.raises(
        AssertionError, match=r"/countdown/\?from=0&opening=0&then=hang: the stream sent nothing"
    ):
        async with sse.testing.connect(async_client, "/countdown/?from=0&opening=0&then=hang", timeout=0.2):
            pass


async def test_an_open_stream_that_goes_quiet(async_client: AsyncClient) -> None:
    async with sse.testing.connect(async_client, "/countdown/?from=1&then=hang") as stream:
        assert (await stream.next_event()).json() == {"n": 1}
        await stream.assert_no_event(within=0.2)
        assert not stream.ended


async def test_an_event_stream_sent_whole(async_client: AsyncClient) -> None:
    async with sse.testing.connect(async_client, "/whole-stream/") as stream:
        assert stream.ended and stream.retry == 5000
        assert (await stream.next_event()) == ReceivedEvent("message", "whole", "w:1")
        assert stream.text == "retry: 5000\n\nid: w:1\ndata: whole\n\n"


async def test_a_synchronous_stream_is_refused(async_client: AsyncClient) -> None:
    with pytest.raises(TypeError, match="streams a synchronous iterator"):
        async with sse.testing.connect(async_client, "/sync-stream/"):
            pass


async def test_the_sync_client_is_refused_with_a_pointer() -> None:
    with pytest.raises(TypeError, match=r"needs django\.test\.AsyncClient .*async_client fixture"):
        async with sse.testing.connect(Client(), "/sse/stream/?channel=public"):
            pass


# -- test transactions: connect() refuses them, naming the runner's fix -----------------


@pytest.mark.django_db
async def test_connect_refuses_the_plain_django_db_mark(async_client: AsyncClient) -> None:
    with pytest.raises(RuntimeError) as refused:
        async with sse.testing.connect(async_client, "/sse/stream/?channel=public"):
            pass
    message = str(refused.value)
    assert "inside the transaction that @pytest.mark.django_db wraps around the test" in message
    assert "mark the test @pytest.mark.django_db(transaction=True) (docs/testing.md)" in message
    assert "TransactionTestCase" not in message
    assert open_streams() == 0


class RefusedInsideTestCase(TestCase):
    """Django's TestCase, as manage.py test runs it (pytest runs unittest classes the same way)."""

    async def test_connect_names_transaction_test_case(self) -> None:
        user = await get_user_model().objects.acreate(username="in-a-testcase")
        await self.async_client.aforce_login(user)
        with self.assertRaises(RuntimeError) as refused:
            async with sse.testing.connect(self.async_client, "/sse/stream/?channel=public"):
                pass
        message = str(refused.exception)
        self.assertIn(
            "inside the transaction that django.test.TestCase (a base of RefusedInsideTestCase) "
            "wraps around the test and rolls back at its end (database 'default')",
            message,
        )
        self.assertIn(
            "make RefusedInsideTestCase a django.test.TransactionTestCase (docs/testing.md)", message
        )
        self.assertNotIn("pytest", message)


class StreamsInTransactionTestCase(TransactionTestCase):
    async def test_events_arrive_and_a_timeout_names_the_test_cases_rule(self) -> None:
        user = await get_user_model().objects.acreate(username="in-a-transactiontestcase")
        await self.async_client.aforce_login(user)
        async with sse.testing.connect(self.async_client, "/sse/stream/?channel=scratch.tc") as stream:
            sent = await sse.apublish("scratch.tc", {"n": 1}, event="tick")
            event = await stream.next_event()
            self.assertEqual((event.event, event.json(), event.id), ("tick", {"n": 1}, sent))
            with self.assertRaises(AssertionError) as timed_out:
                await stream.next_event(timeout=0.2)
        message = str(timed_out.exception)
        self.assertIn(
            "streaming tests are methods of a django.test.TransactionTestCase, not of a TestCase", message
        )
        self.assertNotIn("pytest", message)


# -- docs/testing.md --------------------------------------------------------------

DOC = ROOT / "docs" / "testing.md"
RUNNER_SECTION = "## With Django's test runner (`manage.py test`)"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)
# "# conftest.py", "# orders/tests.py", "# mysite/settings.py: add at the end"
_FILE_NAME = re.compile(r"# ([\w./-]+)(: add at the end)?\n")


def doc_sections() -> tuple[str, str]:
    """The doc without the Django runner's section (the pytest recipe), and that section."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(RUNNER_SECTION)
    end = text.index("\n## ", start + len(RUNNER_SECTION))
    return text[:start] + text[end:], text[start:end]


def doc_files(text: str) -> dict[str, tuple[str, bool]]:
    """The ``python`` and ``ini`` blocks of ``text``, by the file name on their first line
    (``# name``): (the text, whether it is added at the end of a file that exists)."""
    files: dict[str, tuple[str, bool]] = {}
    for language, body in _BLOCK.findall(text):
        if language not in {"python", "ini"}:
            continue
        name = _FILE_NAME.match(body)
        assert name, f"a {language} block of {DOC.name} does not start with '# <file name>':\n{body}"
        before = files.get(name.group(1), ("", False))[0]
        files[name.group(1)] = (before + body, bool(name.group(2)))
    return files


def count_tests(body: str) -> int:
    return len(re.findall(r"^\s*(?:async )?def test_", body, re.M))


def test_the_docs_recipe_runs(tmp_path: Path) -> None:
    files = doc_files(doc_sections()[0])
    assert files.keys() == {"pytest.ini", "conftest.py", "test_orders.py", "test_wire.py"}
    for name, (body, _) in files.items():
        (tmp_path / name).write_text(body)
    tests = sum(count_tests(body) for body, _ in files.values())
    env = sse_env(tmp_path / "app.sqlite3")  # the doc's own settings point at the sse_app here
    # Under this test's tmp dir, --basetemp included: the run leaves nothing elsewhere.
    command = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--ds", SSE_SETTINGS]
    run = subprocess.run(
        [*command, "--basetemp", str(tmp_path / "basetemp"), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert re.search(rf"\b{tests} passed\b", run.stdout), run.stdout[-2000:]
    assert tests >= 3


# -- docs/testing.md under manage.py test, in a fresh project --------------------------

README = ROOT / "README.md"


def readme_project_files() -> dict[str, str]:
    """The files of the README's walk-through, up to its testing section (pytest's, not used here)."""
    text = README.read_text(encoding="utf-8")
    start = text.index("## Add `sse` to your project")
    section = text[start : text.index("### Testing your streams", start)]
    files: dict[str, str] = {}
    for language, body in _BLOCK.findall(section):
        if language == "sh":
            continue
        first = body.splitlines()[0]
        name = re.fullmatch(r"(?:#|\{#)\s*([\w./-]+)(: add at the end)?(?:\s*#\})?", first)
        assert name, f"a {language} block of the README's walk-through names no file:\n{body}"
        files[name.group(1)] = body
    return files


def fresh_project(home: Path, env: dict[str, str]) -> Path:
    """``django-admin startproject mysite`` and ``startapp orders``, then the README's files
    and the Django runner section's files of docs/testing.md, as written."""

    def django(*args: str, cwd: Path) -> None:
        done = subprocess.run([PYTHON, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    django("-m", "django", "startproject", "mysite", cwd=home)
    site = home / "mysite"
    django("manage.py", "startapp", "orders", cwd=site)
    settings = site / "mysite" / "settings.py"
    for name, body in readme_project_files().items():
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(path.read_text() + "\n" + body if path == settings else body)
    for name, (body, append) in doc_files(doc_sections()[1]).items():
        path = site / name
        assert path.exists() or not append, f"{name} should exist before the doc adds to it"
        path.write_text(path.read_text() + "\n" + body if append else body)
    return site


@pytest.mark.timeout(600)
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_docs_django_runner_recipe_runs(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    files = doc_files(doc_sections()[1])
    assert files.keys() == {"mysite/settings.py", "orders/tests.py"}
    tests = count_tests(files["orders/tests.py"][0])
    assert tests >= 3
    # This interpreter (its Django), this tree's sse; nothing of the suite's environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_", "SSE_"))}
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    env.update(PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    home = tmp_path / "work"
    home.mkdir()
    site = fresh_project(home, env)
    command = [PYTHON, "manage.py", "test", "--noinput", "-v", "2"]
    if database == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        (site / "mysite" / "settings_postgresql.py").write_text(
            "from mysite.settings import *  # noqa: F403\n\n"
            "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'mysite',"
            f" 'HOST': '127.0.0.1', 'PORT': {cluster.port}, 'USER': 'postgres',"
            " 'TEST': {'NAME': 'test_mysite_' + __import__('uuid').uuid4().hex[:8]}}}\n"
        )
        command += ["--settings", "mysite.settings_postgresql"]
    run = subprocess.run(command, cwd=site, env=env, capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    assert re.search(rf"^Ran {tests} tests in ", out, re.M) and re.search(r"^OK$", out, re.M), out[-4000:]
    # Each test of the doc ran, and passed.
    assert (
        len(re.findall(r"^test_\w+ \(orders\.tests\.OrderStreamTests\.test_\w+\)\S* \.\.\. ok$", out, re.M))
        == tests
    ), out[-4000:]
    # Nothing met a lock on the way, and Django dropped its test database (PostgreSQL: no
    # connection of the hub's left open) or deleted its file.
    assert "locked" not in out and "failed" not in out, out[-4000:]
    assert "Destroying test database for alias 'default'" in out
    assert not (site / "test-db.sqlite3").exists()
