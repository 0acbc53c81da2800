"""Every notifications API endpoint, over a real Daphne, plus the stream."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.notifications.helpers import open_events, pk_of
from tests.servers import DaphneServer


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(admin: httpx.Client, user: object, title: str, **extra: object) -> httpx.Response:
    return admin.post("/api/notifications/", json={"user": user, "title": title, **extra})


def test_list_is_own_newest_first_and_paginated(admin: httpx.Client, alice: httpx.Client, bob: httpx.Client):
    first, second = unique("first"), unique("second")
    assert create(admin, "alice", first).status_code == 201
    assert create(admin, "alice", second).status_code == 201
    assert create(admin, "bob", unique("for-bob")).status_code == 201

    answer = alice.get("/api/notifications/")
    assert answer.status_code == 200
    page = answer.json()
    assert {"count", "next", "previous", "results", "unread"} <= set(page)
    titles = [row["title"] for row in page["results"]]
    assert titles.index(second) < titles.index(first)
    assert not any(t.startswith("for-bob") for t in titles)
    row = page["results"][titles.index(second)]
    assert set(row) >= {"id", "title", "body", "level", "url", "created", "read_at", "read"}
    assert row["read"] is False and row["level"] == "info"

    small = alice.get("/api/notifications/", params={"page_size": 1}).json()
    assert len(small["results"]) == 1 and small["next"] is not None
    assert small["results"][0]["title"] == second


def test_staff_create_reaches_the_users_stream(site: DaphneServer, admin: httpx.Client, alice: httpx.Client):
    title = unique("hello")
    with open_events(alice, "/notifications/stream/") as events:
        answer = create(admin, "alice", title, body="b", level="warning", url="/jobs/")
        assert answer.status_code == 201, answer.text
        row = answer.json()
        note, _ = events.until(lambda e: e["event"] == "notification" and e["data"]["title"] == title)
        assert note["data"] == {
            "id": row["id"],
            "title": title,
            "body": "b",
            "level": "warning",
            "url": "/jobs/",
            "created": note["data"]["created"],
        }
        unread, _ = events.until(lambda e: e["event"] == "unread")
        assert unread["data"]["count"] == alice.get("/api/notifications/").json()["unread"]
    # By primary key too.
    by_pk = create(admin, row["user"], unique("by-pk"))
    assert by_pk.status_code == 201 and by_pk.json()["user"] == row["user"]


def test_create_is_staff_only(alice: httpx.Client):
    answer = create(alice, "bob", "not allowed")
    assert answer.status_code == 403
    assert "detail" in answer.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user": "nobody-here", "title": "x"}, "user"),
        ({"user": 987654321, "title": "x"}, "user"),
        ({"user": ["alice"], "title": "x"}, "user"),
        ({"user": True, "title": "x"}, "user"),
        ({"title": "x"}, "user"),
        ({"user": "alice"}, "title"),
        ({"user": "alice", "title": "x", "level": "loud"}, "level"),
        ({"user": "alice", "title": "x", "url": "javascript:alert(1)"}, "url"),
        # Paths a browser reads as another host: //host, and / then a backslash or a tab.
        ({"user": "alice", "title": "x", "url": "//evil.example/"}, "url"),
        ({"user": "alice", "title": "x", "url": "/\\evil.example/"}, "url"),
        ({"user": "alice", "title": "x", "url": "/\t/evil.example/"}, "url"),
        ({"user": "alice", "title": "x" * 201}, "title"),
    ],
)
def test_create_with_bad_input_is_a_readable_400(admin: httpx.Client, body: dict[str, object], field: str):
    answer = admin.post("/api/notifications/", json=body)
    assert answer.status_code == 400
    errors = answer.json()
    assert field in errors and isinstance(errors[field][0], str) and errors[field][0]


def test_bad_user_message_names_the_user(admin: httpx.Client):
    answer = create(admin, "nobody-here", "x")
    assert answer.status_code == 400
    assert "nobody-here" in answer.json()["user"][0]


def test_malformed_json_is_a_400(admin: httpx.Client):
    answer = admin.post(
        "/api/notifications/", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert "detail" in answer.json()


def test_mark_read_by_owner_sends_unread(admin: httpx.Client, alice: httpx.Client):
    row = create(admin, "alice", unique("to-read")).json()
    with open_events(alice, "/notifications/stream/") as events:
        answer = alice.post(f"/api/notifications/{row['id']}/read/")
        assert answer.status_code == 200
        body = answer.json()
        assert body["read"] is True and body["read_at"] and body["id"] == row["id"]
        unread, _ = events.until(lambda e: e["event"] == "unread")
        assert unread["data"] == {"count": body["unread"]}
    # Marking again is harmless.
    assert alice.post(f"/api/notifications/{row['id']}/read/").status_code == 200


def test_someone_elses_notification_is_404(admin: httpx.Client, bob: httpx.Client):
    row = create(admin, "alice", unique("alices")).json()
    answer = bob.post(f"/api/notifications/{row['id']}/read/")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "no such notification"}
    assert bob.post("/api/notifications/99999999/read/").status_code == 404


def test_read_all_sends_unread_zero(admin: httpx.Client, bob: httpx.Client):
    create(admin, "bob", unique("one"))
    create(admin, "bob", unique("two"))
    with open_events(bob, "/notifications/stream/") as events:
        answer = bob.post("/api/notifications/read-all/")
        assert answer.status_code == 200
        assert answer.json()["marked"] >= 2 and answer.json()["unread"] == 0
        unread, _ = events.until(lambda e: e["event"] == "unread")
        assert unread["data"] == {"count": 0}
    assert bob.get("/api/notifications/").json()["unread"] == 0


def test_signed_out_and_csrf(site: DaphneServer, alice: httpx.Client):
    with httpx.Client(base_url=site.url) as anonymous:
        assert anonymous.get("/api/notifications/").status_code == 403
        assert anonymous.post("/api/notifications/read-all/").status_code == 403
    # A session write without the CSRF header is refused.
    token = alice.headers.pop("X-CSRFToken")
    try:
        assert alice.post("/api/notifications/read-all/").status_code == 403
    finally:
        alice.headers["X-CSRFToken"] = token


def test_stream_refusals(site: DaphneServer, alice: httpx.Client):
    with httpx.Client(base_url=site.url) as anonymous:
        answer = anonymous.get("/notifications/stream/")
        assert answer.status_code == 401 and answer.headers["content-type"].startswith("text/plain")
        assert anonymous.get("/notifications/stream/", params={"token": "garbage"}).status_code == 401
    # A token for the user's channels opens the stream without a session.
    pk = pk_of(site.env, "alice")
    token = alice.post("/api/sse/tokens/", json={"channels": [f"notifications.user.{pk}", "broadcast"]})
    assert token.status_code == 201
    with httpx.Client(base_url=site.url) as anonymous:
        with anonymous.stream("GET", "/notifications/stream/", params={"token": token.json()["token"]}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
        # A token that covers only broadcast does not open the user's stream.
        narrow = alice.post("/api/sse/tokens/", json={"channels": ["broadcast"]}).json()["token"]
        assert anonymous.get("/notifications/stream/", params={"token": narrow}).status_code == 403
