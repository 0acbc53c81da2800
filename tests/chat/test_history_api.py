"""The chat API's newer parts over a real Daphne: older pages (``?before=``), unread counts
and read marks, the typing signal, and the per-user ``room_activity`` channel."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from tests.chat.conftest import EventReader, log_of, seed_history
from tests.servers import DaphneServer

PAGE = 50  # CHAT_HISTORY_ON_PAGE: the API's page size too


@pytest.fixture(scope="module")
def archive(chat_site: DaphneServer) -> list[int]:
    """An open room with 60 messages: one page and 10 more before it."""
    return seed_history(chat_site, "archive", [3] * 30 + [1] * 15 + [0] * 15)


def _user_channel(client: httpx.Client) -> str:
    page = client.get("/chat/lobby/")
    found = re.search(r'data-user-channel="(chat\.user\.\d+)"', page.text)
    assert found, "the room page names the user's channel"
    return found.group(1)


def test_plain_call_keeps_its_shape(alice: httpx.Client, archive: list[int]) -> None:
    answer = alice.get("/api/chat/archive/messages/")
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == len(archive)
    assert [m["id"] for m in body["results"]] == archive[::-1][:PAGE]


def test_before_pages_back_to_the_oldest(alice: httpx.Client, archive: list[int]) -> None:
    newest = alice.get("/api/chat/archive/messages/").json()["results"]
    oldest_shown = newest[-1]["id"]
    older = alice.get("/api/chat/archive/messages/", params={"before": oldest_shown})
    assert older.status_code == 200, older.text
    body = older.json()
    assert [m["id"] for m in body["results"]] == archive[::-1][PAGE:]
    assert body["next"] is None  # nothing before these
    assert body["results"][0]["body"] == f"history archive {len(archive) - PAGE - 1}"
    assert set(body["results"][0]) == {"id", "room", "user", "body", "created"}

    # A cursor in the middle: a full page, and a link to the rest.
    middle = alice.get("/api/chat/archive/messages/", params={"before": archive[-1]}).json()
    assert [m["id"] for m in middle["results"]] == archive[::-1][1 : PAGE + 1]
    assert middle["next"] is not None and middle["next"].endswith(f"?before={archive[-PAGE - 1]}")
    rest = alice.get(middle["next"]).json()
    assert [m["id"] for m in rest["results"]] == archive[::-1][PAGE + 1 :]


def test_before_bad_input_is_a_readable_refusal(
    alice: httpx.Client, bob: httpx.Client, archive: list[int]
) -> None:
    for bad in ("abc", "-1", "1.5", "", "\uff11\uff12", "9" * 40):
        answer = alice.get("/api/chat/archive/messages/", params={"before": bad})
        assert answer.status_code == 400, (bad, answer.text)
        assert "before must be a message id" in answer.json()["before"][0]

    unknown = alice.get("/api/chat/archive/messages/", params={"before": 10**12})
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == f"No message {10**12} in chat room 'archive'."

    # A message of another room is not a cursor here.
    lobby_id = alice.post("/api/chat/lobby/messages/", json={"body": "a cursor elsewhere"}).json()["id"]
    elsewhere = alice.get("/api/chat/archive/messages/", params={"before": lobby_id})
    assert elsewhere.status_code == 404
    assert "No message" in elsewhere.json()["detail"]

    # Someone else's private room: the same 404 as a room that does not exist (never a 403,
    # which would tell bob it is there), whatever the cursor.
    for cursor in ("abc", str(lobby_id)):
        staff = bob.get("/api/chat/staff/messages/", params={"before": cursor})
        missing = bob.get("/api/chat/no-such-room/messages/", params={"before": cursor})
        assert staff.status_code == missing.status_code == 404
        assert staff.json()["detail"] == "No chat room 'staff'."


def _room(client: httpx.Client, slug: str) -> dict[str, object]:
    rooms = client.get("/api/chat/rooms/").json()["results"]
    return next(r for r in rooms if r["slug"] == slug)


def test_unread_counts_follow_posts_and_read_marks(
    chat_site: DaphneServer, alice: httpx.Client, bob: httpx.Client
) -> None:
    seed_history(chat_site, "counted", [0, 0])
    # Never opened: every message counts.
    assert _room(bob, "counted")["unread"] == 2
    assert bob.post("/api/chat/counted/read/").status_code == 200
    read = _room(bob, "counted")
    assert read["unread"] == 0
    posted = alice.post("/api/chat/counted/messages/", json={"body": "new for bob"}).json()
    after = _room(bob, "counted")
    assert (after["unread"], after["last_id"]) == (1, posted["id"])
    # Her own message is not unread for alice.
    assert _room(alice, "counted")["unread"] == 2
    # Opening the page marks the room read too.
    assert bob.get("/chat/counted/").status_code == 200
    assert _room(bob, "counted")["unread"] == 0
    # bob cannot mark (or learn about) a room he may not read.
    assert bob.post("/api/chat/staff/read/").status_code == 404


def test_room_activity_reaches_readers_of_the_room_only(
    alice: httpx.Client, bob: httpx.Client, open_stream: Callable[..., EventReader]
) -> None:
    channel = _user_channel(bob)
    # bob has a chat page's stream open (lobby), so the server sends him room activity.
    reader = open_stream(
        bob,
        "/sse/stream/",
        params=[("channel", "chat.room.lobby"), ("channel", "chat.presence.lobby"), ("channel", channel)],
    )
    reader.wait_for(
        lambda e: e["event"] == "presence" and "bob" in e["json"]["users"], what="bob in the lobby's presence"
    )
    secret = alice.post("/api/chat/staff/messages/", json={"body": "not for bob"})
    assert secret.status_code == 201
    public = alice.post("/api/chat/lobby/messages/", json={"body": "for everyone"}).json()
    activity = reader.wait_for(
        lambda e: e["event"] == "room_activity" and e["json"]["id"] == public["id"], what="room_activity"
    )
    assert activity["json"] == {"room": "lobby", "id": public["id"]}
    # Published in order, so a staff event would have come first: there is none.
    assert [e["json"]["room"] for e in reader.events if e["event"] == "room_activity"] == ["lobby"]
    # Nobody else may read bob's channel.
    with alice.stream("GET", "/sse/stream/", params={"channel": channel}) as other:
        assert other.status_code == 403


def test_typing_goes_to_the_room_on_an_ephemeral_channel(
    chat_site: DaphneServer, alice: httpx.Client, bob: httpx.Client, open_stream: Callable[..., EventReader]
) -> None:
    reader = open_stream(bob, "/sse/stream/", params={"channel": "chat.typing.lobby"})
    assert alice.post("/api/chat/lobby/typing/").status_code == 204
    event = reader.wait_for(lambda e: e["event"] == "typing" and e["json"]["user"] == "alice", what="typing")
    assert event["json"] == {"room": "lobby", "user": "alice"}
    assert bob.post("/api/chat/lobby/typing/").status_code == 204
    reader.wait_for(lambda e: e["event"] == "typing" and e["json"]["user"] == "bob", what="bob typing")
    # Ephemeral: the log keeps the latest signal only, never a history of them.
    log = log_of(chat_site, "chat.typing.lobby")
    assert log["rows"] == 1 and log["head"] >= 2
    # The room's read rule and CSRF, like posting.
    assert bob.post("/api/chat/staff/typing/").status_code == 404
    del bob.headers["X-CSRFToken"]
    forged = bob.post("/api/chat/lobby/typing/")
    assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]
