"""A private room is invisible to non-members: page, stream, history and post all
answer 404, exactly like a room that does not exist (docs/chat.md, chat/access.py)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.servers import DaphneServer


def _four(client: httpx.Client, slug: str) -> dict[str, tuple[int, str]]:
    """Status and content type of the page, the stream, the history and a post."""
    page = client.get(f"/chat/{slug}/")
    with client.stream("GET", f"/chat/{slug}/stream/") as stream:
        stream_answer = (stream.status_code, stream.headers.get("content-type", ""))
    history = client.get(f"/api/chat/{slug}/messages/")
    post = client.post(f"/api/chat/{slug}/messages/", json={"body": f"hello {slug}"})
    return {
        "page": (page.status_code, page.headers.get("content-type", "")),
        "stream": stream_answer,
        "history": (history.status_code, history.headers.get("content-type", "")),
        "post": (post.status_code, post.headers.get("content-type", "")),
    }


def test_bob_gets_the_same_404_on_all_four_of_staff(bob: httpx.Client) -> None:
    staff = _four(bob, "staff")
    assert {name: status for name, (status, _) in staff.items()} == {
        "page": 404,
        "stream": 404,
        "history": 404,
        "post": 404,
    }
    # Indistinguishable from a room that does not exist.
    missing = _four(bob, "no-such-room")
    assert {k: v[0] for k, v in missing.items()} == {k: v[0] for k, v in staff.items()}
    # Nor can he get a stream token for it, or open it through the generic stream.
    assert bob.post("/api/sse/tokens/", json={"channels": ["chat.room.staff"]}).status_code == 404
    with bob.stream("GET", "/sse/stream/", params={"channel": "chat.room.staff"}) as generic:
        assert generic.status_code == 404


def test_alice_gets_all_four_of_staff(alice: httpx.Client) -> None:
    staff = _four(alice, "staff")
    assert staff["page"][0] == 200 and staff["page"][1].startswith("text/html")
    assert staff["stream"] == (200, "text/event-stream; charset=utf-8")
    assert staff["history"][0] == 200
    assert staff["post"][0] == 201
    assert alice.post("/api/sse/tokens/", json={"channels": ["chat.room.staff"]}).status_code == 201


def test_signed_out_page_redirects_and_stream_is_401(chat_site: DaphneServer) -> None:
    with httpx.Client(base_url=chat_site.url, timeout=10) as anonymous:
        page = anonymous.get("/chat/lobby/")
        assert page.status_code == 302
        assert page.headers["location"].startswith("/accounts/login/")
        with anonymous.stream("GET", "/chat/lobby/stream/") as stream:
            assert stream.status_code == 401


@pytest.mark.parametrize("slug", ["x" * 51, "x" * 300])
def test_overlong_slug_is_a_404_not_a_500(bob: httpx.Client, slug: str) -> None:
    assert bob.get(f"/chat/{slug}/").status_code == 404
    with bob.stream("GET", f"/chat/{slug}/stream/") as stream:
        assert stream.status_code == 404


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert found, "the page has no CSRF token"
    return found.group(1)


def test_form_post_without_javascript(alice: httpx.Client) -> None:
    page = alice.get("/chat/lobby/")
    form = {"csrfmiddlewaretoken": _csrf(page), "body": " <b>plain</b> post "}
    answer = alice.post("/chat/lobby/", data=form)
    assert answer.status_code == 302
    assert answer.headers["location"] == "/chat/lobby/"
    after = alice.get("/chat/lobby/")
    # Rendered as text: the markup arrives escaped.
    assert '<span class="chat-text">&lt;b&gt;plain&lt;/b&gt; post</span>' in after.text
    assert "<b>plain</b>" not in after.text


def test_form_post_errors_are_shown_on_the_page(alice: httpx.Client) -> None:
    page = alice.get("/chat/lobby/")
    empty = alice.post("/chat/lobby/", data={"csrfmiddlewaretoken": _csrf(page), "body": "   "})
    assert empty.status_code == 400
    assert "Write a message first: it is empty." in empty.text
    long = alice.post("/chat/lobby/", data={"csrfmiddlewaretoken": _csrf(page), "body": "y" * 2001})
    assert long.status_code == 400
    assert "at most 2000 characters" in long.text


def test_form_post_needs_the_csrf_token(alice: httpx.Client) -> None:
    del alice.headers["X-CSRFToken"]
    answer = alice.post("/chat/lobby/", data={"body": "forged"})
    assert answer.status_code == 403


def test_form_post_to_a_private_room_is_404_for_outsiders(bob: httpx.Client) -> None:
    page = bob.get("/chat/lobby/")
    answer = bob.post("/chat/staff/", data={"csrfmiddlewaretoken": _csrf(page), "body": "let me in"})
    assert answer.status_code == 404
