"""POST /api/sse/tokens/ and /api/sse/publish/, over a real socket."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.sse.conftest import Site
from tests.sse.sse_client import StreamReader

TOKENS = "/api/sse/tokens/"
PUBLISH = "/api/sse/publish/"


def assert_json_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()  # a readable message, not an empty body


# -- tokens -------------------------------------------------------------------


def test_token_is_issued_and_opens_the_stream(
    site: Site, alice: httpx.Client, anonymous: httpx.Client
) -> None:
    mine = f"user.{site.users['alice']}"
    response = alice.post(TOKENS, json={"channels": [mine, "public", "room.lobby"]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) >= {"token", "expires_at"}
    expires = datetime.fromisoformat(body["expires_at"])
    assert expires.tzinfo is not None
    assert timedelta(0) < expires - datetime.now(expires.tzinfo) <= timedelta(seconds=301)
    with anonymous.stream("GET", "/sse/stream/", params={"channel": mine, "token": body["token"]}) as stream:
        assert stream.status_code == 200
        assert StreamReader(stream).read_bytes(7) == b"retry: "


def test_token_for_a_channel_the_caller_may_not_read_is_403(site: Site, alice: httpx.Client) -> None:
    for channels in (["staff"], ["public", f"user.{site.users['bob']}"], ["no.rule.here"]):
        assert_json_error(alice.post(TOKENS, json={"channels": channels}), 403)


def test_token_for_an_unknown_room_is_404(alice: httpx.Client) -> None:
    assert_json_error(alice.post(TOKENS, json={"channels": ["room.nowhere"]}), 404)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"channels": []},
        {"channels": "public"},
        {"channels": [True]},
        {"channels": [{"name": "public"}]},
        {"channels": ["bad name"]},
        {"channels": [""]},
        {"channels": ["x" * 81]},
        {"channels": [f"scratch.c{i}" for i in range(33)]},
        {"channels": None},
        [],
    ],
)
def test_malformed_token_request_is_400(alice: httpx.Client, body: object) -> None:
    assert_json_error(alice.post(TOKENS, json=body), 400)


def test_token_request_that_is_not_json_is_400(alice: httpx.Client) -> None:
    response = alice.post(TOKENS, content=b"{not json", headers={"Content-Type": "application/json"})
    assert_json_error(response, 400)


def test_token_request_needs_the_csrf_token_with_a_session(site: Site) -> None:
    client = site.client("alice")
    del client.headers["X-CSRFToken"]
    response = client.post(TOKENS, json={"channels": ["public"]})
    assert_json_error(response, 403)
    assert "CSRF" in response.text


def test_token_request_with_a_wrong_csrf_token_is_403(site: Site) -> None:
    client = site.client("alice")
    client.headers["X-CSRFToken"] = "x" * 32
    assert_json_error(client.post(TOKENS, json={"channels": ["public"]}), 403)


def test_anonymous_gets_no_token(anonymous: httpx.Client) -> None:
    response = anonymous.post(TOKENS, json={"channels": ["public"]})
    assert response.status_code in (401, 403)


def test_token_endpoint_is_post_only(alice: httpx.Client) -> None:
    assert alice.get(TOKENS).status_code == 405


# -- publish --------------------------------------------------------------------


def test_staff_with_the_permission_publishes(site: Site, staff: httpx.Client, alice: httpx.Client) -> None:
    with alice.stream("GET", "/sse/stream/", params={"channel": "scratch.api"}) as stream:
        assert stream.status_code == 200
        reader = StreamReader(stream)
        reader.read_bytes(7)
        response = staff.post(PUBLISH, json={"channel": "scratch.api", "event": "note", "data": {"n": 1}})
        assert response.status_code == 201, response.text
        [event] = reader.events(1)
    assert set(response.json()) == {"id"}
    assert (event.event, event.json(), event.id) == ("note", {"n": 1}, response.json()["id"])


def test_publish_without_an_event_name_is_a_message(staff: httpx.Client, alice: httpx.Client) -> None:
    with alice.stream("GET", "/sse/stream/", params={"channel": "scratch.api-message"}) as stream:
        reader = StreamReader(stream)
        reader.read_bytes(7)
        assert (
            staff.post(PUBLISH, json={"channel": "scratch.api-message", "data": [1, "two"]}).status_code
            == 201
        )
        [event] = reader.events(1)
    assert (event.event, event.json()) == ("message", [1, "two"])


@pytest.mark.parametrize("username", ["alice", "clerk"])
def test_publish_needs_staff_and_the_permission(site: Site, username: str) -> None:
    client = site.client(username)
    assert_json_error(client.post(PUBLISH, json={"channel": "public", "data": {}}), 403)


def test_anonymous_cannot_publish(anonymous: httpx.Client) -> None:
    response = anonymous.post(PUBLISH, json={"channel": "public", "data": {}})
    assert response.status_code in (401, 403)


def test_publish_needs_the_csrf_token(site: Site) -> None:
    client = site.client("staff")
    del client.headers["X-CSRFToken"]
    assert_json_error(client.post(PUBLISH, json={"channel": "public", "data": {}}), 403)


@pytest.mark.parametrize(
    "body",
    [
        {"channel": "bad name", "data": {}},
        {"channel": "", "data": {}},
        {"channel": "x" * 81, "data": {}},
        {"channel": ["public"], "data": {}},
        {"data": {}},
        {"channel": "public"},
        {"channel": "public", "data": {}, "event": "error"},
        {"channel": "public", "data": {}, "event": "a\nb"},
        {"channel": "public", "data": {}, "event": "a\r\ndata: x"},
        {"channel": "public", "data": {}, "event": ""},
        {"channel": "public", "data": {}, "event": "e" * 101},
    ],
)
def test_bad_publish_request_is_400(staff: httpx.Client, body: object) -> None:
    assert_json_error(staff.post(PUBLISH, json=body), 400)


def test_publish_rejects_nan(staff: httpx.Client) -> None:
    response = staff.post(
        PUBLISH, content=b'{"channel": "public", "data": NaN}', headers={"Content-Type": "application/json"}
    )
    assert_json_error(response, 400)


@pytest.mark.parametrize("url", [TOKENS, PUBLISH, "/api/sse/stats/"])
@pytest.mark.parametrize("accept", ["text/html,application/xhtml+xml,*/*;q=0.8", "text/html"])
def test_regression_browser_accept_header_gave_500_without_project_templates(
    alice: httpx.Client, url: str, accept: str
) -> None:
    # DRF's browsable API needs templates the sse app cannot assume (tests/sse_app has none).
    for response in (
        alice.get(url, headers={"Accept": accept}),
        alice.post(url, json={}, headers={"Accept": accept}),
    ):
        assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])
        if "*/*" in accept:
            assert response.headers["content-type"].startswith("application/json")


@pytest.mark.django_db
def test_stats_without_a_running_hub_give_every_figure(client: Any, django_user_model: Any) -> None:
    # In this process no hub runs: the answer has the same keys as a running hub's, all zero
    # (a client waiting for users == 0 got a KeyError).
    client.force_login(django_user_model.objects.create_user("ops", password="x", is_staff=True))
    figures = client.get("/api/sse/stats/").json()
    assert figures["running"] is False
    assert {key: figures[key] for key in ("streams", "groups", "users", "layer_members", "delivered")} == {
        "streams": 0,
        "groups": 0,
        "users": 0,
        "layer_members": 0,
        "delivered": 0,
    }
