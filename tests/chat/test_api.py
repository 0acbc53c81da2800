"""The chat API over a real Daphne: listing, posting, and every refusal."""

from __future__ import annotations

import re

import httpx

from tests.chat import settings as chat_settings
from tests.chat.conftest import create_user
from tests.project.conftest import login
from tests.servers import DaphneServer


def test_rooms_lists_what_the_caller_may_read(alice: httpx.Client, bob: httpx.Client) -> None:
    mine = alice.get("/api/chat/rooms/")
    assert mine.status_code == 200
    # Other tests add open rooms to the session's server: look at the seeded two.
    slugs = [r["slug"] for r in mine.json()["results"]]
    assert {"lobby", "staff"} <= set(slugs) and slugs == sorted(slugs)
    lobby = next(r for r in mine.json()["results"] if r["slug"] == "lobby")
    assert lobby["channel"] == "chat.room.lobby"
    assert lobby["stream_url"] == "/chat/lobby/stream/"
    assert isinstance(lobby["unread"], int) and isinstance(lobby["last_id"], int)
    bobs = [r["slug"] for r in bob.get("/api/chat/rooms/").json()["results"]]
    assert "lobby" in bobs and "staff" not in bobs


def test_post_then_history_newest_first(alice: httpx.Client, bob: httpx.Client) -> None:
    first = alice.post("/api/chat/lobby/messages/", json={"body": "  first, trimmed  \n"})
    assert first.status_code == 201, first.text
    message = first.json()
    assert set(message) == {"id", "room", "user", "body", "created"}
    assert (message["room"], message["user"], message["body"]) == ("lobby", "alice", "first, trimmed")
    second = bob.post("/api/chat/lobby/messages/", json={"body": "second"})
    assert second.status_code == 201, second.text
    history = alice.get("/api/chat/lobby/messages/")
    assert history.status_code == 200
    ids = [m["id"] for m in history.json()["results"]]
    assert ids.index(second.json()["id"]) < ids.index(message["id"])


def test_empty_body_is_a_readable_400(alice: httpx.Client) -> None:
    for payload in ({"body": ""}, {"body": " \n\t "}):
        answer = alice.post("/api/chat/lobby/messages/", json=payload)
        assert answer.status_code == 400
        assert answer.json() == {"body": ["Write a message first: it is empty."]}
    missing = alice.post("/api/chat/lobby/messages/", json={})
    assert missing.status_code == 400
    assert "body" in missing.json()


def test_2001_characters_is_a_400_and_2000_is_fine(alice: httpx.Client, sandbox: str) -> None:
    too_long = alice.post("/api/chat/lobby/messages/", json={"body": "x" * 2001})
    assert too_long.status_code == 400
    assert too_long.json() == {"body": ["A message is at most 2000 characters; this one has 2001."]}
    # The limit is on the trimmed text, counted in characters (not bytes).
    longest = alice.post(f"/api/chat/{sandbox}/messages/", json={"body": "  " + "é" * 2000 + "  "})
    assert longest.status_code == 201, longest.text
    assert longest.json()["body"] == "é" * 2000


def test_bad_bodies_never_500(alice: httpx.Client) -> None:
    for payload in ({"body": None}, {"body": ["a"]}, {"body": {"a": 1}}, {"body": "nul\x00"}):
        answer = alice.post("/api/chat/lobby/messages/", json=payload)
        assert answer.status_code == 400, (payload, answer.text)
        assert "body" in answer.json()
    broken = alice.post(
        "/api/chat/lobby/messages/", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400
    assert "detail" in broken.json()


def test_unknown_room_is_a_json_404(alice: httpx.Client) -> None:
    for slug in ("nope", "x" * 200, "bad.slug"):
        for answer in (
            alice.get(f"/api/chat/{slug}/messages/"),
            alice.post(f"/api/chat/{slug}/messages/", json={"body": "hello"}),
        ):
            assert answer.status_code == 404, (slug, answer.status_code)
            assert answer.json()["detail"]


def test_signed_out_gets_no_api(chat_site: DaphneServer) -> None:
    with httpx.Client(base_url=chat_site.url, timeout=10) as anonymous:
        assert anonymous.get("/api/chat/rooms/").status_code == 403
        assert anonymous.get("/api/chat/lobby/messages/").status_code == 403
        assert anonymous.post("/api/chat/lobby/messages/", json={"body": "hi"}).status_code == 403


def test_session_post_needs_csrf(alice: httpx.Client) -> None:
    del alice.headers["X-CSRFToken"]
    answer = alice.post("/api/chat/lobby/messages/", json={"body": "forged"})
    assert answer.status_code == 403
    assert "CSRF" in answer.json()["detail"]


def test_rate_limit_answers_429_with_retry_after(chat_site: DaphneServer, sandbox: str) -> None:
    create_user(chat_site, "carol")
    carol = login(chat_site.url, "carol")
    limit = chat_settings.CHAT_RATE_LIMIT_MESSAGES
    window = chat_settings.CHAT_RATE_LIMIT_WINDOW_SECONDS
    try:
        for n in range(limit):
            answer = carol.post(f"/api/chat/{sandbox}/messages/", json={"body": f"message {n}"})
            assert answer.status_code == 201, (n, answer.text)
        refused = carol.post(f"/api/chat/{sandbox}/messages/", json={"body": "one too many"})
        assert refused.status_code == 429
        retry_after = int(refused.headers["Retry-After"])
        assert 0 < retry_after <= window
        assert "too fast" in refused.json()["detail"]
        # The plain form post (no JavaScript) is limited the same way.
        page = carol.get(f"/chat/{sandbox}/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token
        form = carol.post(
            f"/chat/{sandbox}/", data={"csrfmiddlewaretoken": token.group(1), "body": "by form"}
        )
        assert form.status_code == 429
        assert 0 < int(form.headers["Retry-After"]) <= window
        assert "Too many messages" in form.text
        # Other users are not limited by carol's posts.
        other = login(chat_site.url, "bob")
        assert other.post(f"/api/chat/{sandbox}/messages/", json={"body": "still fine"}).status_code == 201
        other.close()
    finally:
        carol.close()
