"""The access rules of /sse/stream/, over a real socket to Daphne."""

from __future__ import annotations

import time
from collections.abc import Iterator
from unittest import mock

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.core import signing

from sse.auth.tokens import issue_token
from tests.sse.conftest import Site
from tests.sse.sse_client import StreamReader

STREAM = "/sse/stream/"
STREAM_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}

# Every status any test here saw: none may be a redirect or a server error.
seen_statuses: list[tuple[str, int]] = []


@pytest.fixture(scope="module", autouse=True)
def no_redirects_no_server_errors() -> Iterator[None]:
    yield
    bad = [(what, code) for what, code in seen_statuses if 300 <= code < 400 or code >= 500]
    assert seen_statuses and not bad, bad


def get(client: httpx.Client, what: str, params: object = None, headers: object = None) -> httpx.Response:
    """A GET that must not stream: read it whole (a 200 here would hang, so it is bounded)."""
    with client.stream("GET", STREAM, params=params, headers=headers, timeout=30) as response:  # type: ignore[arg-type]
        seen_statuses.append((what, response.status_code))
        if response.status_code == 200:
            return response
        response.read()
        return response


def expect(response: httpx.Response, status: int, text: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("text/plain")
    assert text in response.text
    assert "location" not in response.headers


def token_for(site: Site, username: str, channels: list[str], **kwargs: object) -> str:
    return issue_token(site.users[username], channels).token


# -- refusals -----------------------------------------------------------------


def test_anonymous_is_401(anonymous: httpx.Client) -> None:
    response = get(anonymous, "anonymous", {"channel": "public"})
    expect(response, 401, "sign in")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_anonymous_on_a_personal_channel_is_401_not_403(site: Site, anonymous: httpx.Client) -> None:
    expect(get(anonymous, "anonymous personal", {"channel": f"user.{site.users['alice']}"}), 401, "sign in")


def test_another_users_channel_is_403(site: Site, alice: httpx.Client) -> None:
    expect(get(alice, "other user", {"channel": f"user.{site.users['bob']}"}), 403, "not allowed")


def test_one_forbidden_channel_among_allowed_ones_is_403(site: Site, alice: httpx.Client) -> None:
    params = [("channel", "public"), ("channel", f"user.{site.users['alice']}"), ("channel", "staff")]
    expect(get(alice, "mixed", params), 403, "staff")


def test_staff_channel_with_an_async_rule(alice: httpx.Client) -> None:
    expect(get(alice, "staff channel", {"channel": "staff"}), 403, "not allowed")


def test_unknown_channel_without_a_rule_is_403(alice: httpx.Client) -> None:
    expect(get(alice, "no rule", {"channel": "nobody.reads.this"}), 403, "not allowed")


def test_unknown_room_is_404(alice: httpx.Client) -> None:
    expect(get(alice, "unknown room", {"channel": "room.nowhere"}), 404, "no room nowhere")


@pytest.mark.parametrize(
    "value",
    ["", "a b", "a/b", "x" * 81, "r\u00e9sum\u00e9", "public\n", "<script>", "public;staff", "%00"],
)
def test_malformed_channel_is_400(alice: httpx.Client, value: str) -> None:
    expect(get(alice, f"malformed {value!r}", {"channel": value}), 400, "invalid channel name")


def test_missing_channel_is_400(alice: httpx.Client) -> None:
    expect(get(alice, "missing"), 400, "at least one channel")


def test_too_many_channels_is_400(alice: httpx.Client) -> None:
    params = [("channel", f"scratch.c{i}") for i in range(33)]
    expect(get(alice, "too many", params), 400, "at most")


def test_tampered_token_is_401(site: Site, anonymous: httpx.Client) -> None:
    value = token_for(site, "alice", ["public"])
    tampered = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    response = get(anonymous, "tampered", {"channel": "public", "token": tampered})
    expect(response, 401, "invalid token")
    # tests/sse_app mounts sse.api.urls at api/sse/ (test_setup_mistakes.py: elsewhere, or not at all).
    assert response.text == "invalid token: ask POST /api/sse/tokens/ for a new one\n"


def test_a_token_whose_session_signed_out_is_401_and_says_where_to_get_another(
    site: Site, anonymous: httpx.Client
) -> None:
    value = issue_token(site.users["alice"], ["public"], session_key="a-session-that-is-gone").token
    response = get(anonymous, "session gone", {"channel": "public", "token": value})
    expect(response, 401, "signed out")
    assert response.text == (
        "the session the token was minted from has signed out: sign in and ask POST /api/sse/tokens/"
        " for a new one\n"
    )


def test_a_token_minted_before_a_password_change_is_401_and_says_where_to_get_another(
    site: Site, anonymous: httpx.Client
) -> None:
    # The same user with another password hash: the token carries that hash's digest.
    before = get_user_model()(pk=site.users["alice"], password="pbkdf2_sha256$1000$salt$b2xk")
    response = get(
        anonymous, "password changed", {"channel": "public", "token": issue_token(before, ["public"]).token}
    )
    expect(response, 401, "changed password")
    assert response.text == (
        "the token's user changed password: sign in and ask POST /api/sse/tokens/ for a new one\n"
    )


@pytest.mark.parametrize(
    "claims",
    [
        {"u": "not-a-user-id", "c": ["public"]},
        {"u": "1", "c": ["public"], "e": 2**40},
        {"u": "1", "c": ["public"], "s": "bm90IHNlYWxlZCBieSB0aGlzIHNlcnZlcg"},
    ],
    ids=["user id", "expiry", "sealed session"],
)
def test_a_signed_token_with_claims_no_server_writes_is_401(anonymous: httpx.Client, claims: dict) -> None:
    # Forging needs SECRET_KEY (the suite shares the server's): a leak must not turn into 500s.
    forged = signing.dumps({"e": int(time.time()) + 60, **claims}, salt="sse.stream-token")
    response = get(anonymous, "forged claims", {"channel": "public", "token": forged})
    expect(response, 401, "invalid token")


def test_garbage_token_is_401(anonymous: httpx.Client) -> None:
    expect(get(anonymous, "garbage token", {"channel": "public", "token": "x" * 5000}), 401, "token")


def test_empty_token_is_401(anonymous: httpx.Client) -> None:
    expect(get(anonymous, "empty token", {"channel": "public", "token": ""}), 401, "empty token")


def test_two_tokens_is_400(site: Site, anonymous: httpx.Client) -> None:
    value = token_for(site, "alice", ["public"])
    params = [("channel", "public"), ("token", value), ("token", value)]
    expect(get(anonymous, "two tokens", params), 400, "one token")


def test_expired_token_is_401(site: Site, anonymous: httpx.Client) -> None:
    # Signed 10 minutes ago with the server's key: past the server's 300 s lifetime.
    with mock.patch("time.time", return_value=time.time() - 600):
        value = token_for(site, "alice", ["public"])
    expect(get(anonymous, "expired", {"channel": "public", "token": value}), 401, "expired")


def test_token_for_another_channel_is_403(site: Site, anonymous: httpx.Client) -> None:
    value = token_for(site, "alice", ["public"])
    params = {"channel": f"user.{site.users['alice']}", "token": value}
    expect(get(anonymous, "token other channel", params), 403, "does not cover")


def test_token_of_a_user_who_may_no_longer_read_is_403(site: Site, anonymous: httpx.Client) -> None:
    # Tokens are checked against the rules again when used, not only when issued.
    value = token_for(site, "alice", ["staff"])
    expect(
        get(anonymous, "token no longer allowed", {"channel": "staff", "token": value}), 403, "not allowed"
    )


def test_token_of_a_user_that_does_not_exist_is_401(anonymous: httpx.Client) -> None:
    value = issue_token(999999, ["public"]).token
    expect(get(anonymous, "token ghost user", {"channel": "public", "token": value}), 401, "no longer exists")


@pytest.mark.parametrize("header", ["Bearer", "Bearer not-a-token"])
def test_bad_bearer_header_is_401(alice: httpx.Client, header: str) -> None:
    # A bad stream token is refused even with a valid session: credentials must not be ambiguous.
    response = get(alice, f"auth header {header!r}", {"channel": "public"}, {"Authorization": header})
    expect(response, 401, "")


@pytest.mark.parametrize("header", ["Basic YWxpY2U6dGVzdA==", "Token abc", "bearer-abc"])
def test_other_authorization_schemes_fall_through_to_the_session(alice: httpx.Client, header: str) -> None:
    # A site behind HTTP basic auth sends Basic on every request: the session still counts.
    response = get(alice, f"auth header {header!r}", {"channel": "public"}, {"Authorization": header})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"


@pytest.mark.parametrize("value", ["\u00e9t\u00e9", "x" * 1025])
def test_bad_last_event_id_is_400(alice: httpx.Client, value: str) -> None:
    expect(get(alice, "bad lastEventId", {"channel": "public", "lastEventId": value}), 400, "Last-Event-ID")


def test_post_to_the_stream_is_405(alice: httpx.Client) -> None:
    response = alice.post(STREAM, params={"channel": "public"})
    seen_statuses.append(("post", response.status_code))
    assert response.status_code == 405


# -- streams that open ----------------------------------------------------------


def assert_stream_opens(response: httpx.Response) -> bytes:
    assert response.status_code == 200
    for name, value in STREAM_HEADERS.items():
        assert response.headers[name] == value
    for absent in ("content-length", "content-encoding", "location"):
        assert absent not in response.headers
    first = StreamReader(response).read_bytes(len(b"retry: "))
    assert first == b"retry: "
    return first


def test_session_opens_a_stream(site: Site, alice: httpx.Client) -> None:
    params = [("channel", "public"), ("channel", f"user.{site.users['alice']}"), ("channel", "room.lobby")]
    with alice.stream("GET", STREAM, params=params) as response:
        seen_statuses.append(("session", response.status_code))
        assert_stream_opens(response)


def test_staff_reads_the_staff_channel(staff: httpx.Client) -> None:
    with staff.stream("GET", STREAM, params={"channel": "staff"}) as response:
        seen_statuses.append(("staff", response.status_code))
        assert_stream_opens(response)


def test_token_in_the_query_opens_a_stream(site: Site, anonymous: httpx.Client) -> None:
    mine = f"user.{site.users['alice']}"
    value = token_for(site, "alice", ["public", mine])
    params = [("channel", mine), ("token", value)]  # a subset of the token's channels is fine
    with anonymous.stream("GET", STREAM, params=params) as response:
        seen_statuses.append(("token query", response.status_code))
        assert_stream_opens(response)


def test_bearer_token_opens_a_stream(site: Site, anonymous: httpx.Client) -> None:
    value = token_for(site, "bob", ["public"])
    headers = {"Authorization": f"Bearer {value}"}
    with anonymous.stream("GET", STREAM, params={"channel": "public"}, headers=headers) as response:
        seen_statuses.append(("bearer", response.status_code))
        assert_stream_opens(response)


def test_the_first_block_is_retry_and_an_id(alice: httpx.Client) -> None:
    with alice.stream("GET", STREAM, params={"channel": "scratch.first"}) as response:
        seen_statuses.append(("first block", response.status_code))
        reader = StreamReader(response)
        reader.read_bytes(1)
        while b"\n\n" not in reader.raw:
            reader.read_bytes(len(reader.raw) + 1)
        block = reader.raw[: reader.raw.index(b"\n\n") + 2]
    lines = block.decode().split("\n")
    assert lines[0] == "retry: 2000"
    assert lines[1].startswith("id: ")
    assert lines[2:] == ["", ""]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("channel=%ff", 400),
        ("channel=%00", 400),
        ("channel=public&channel=", 400),
        ("channel=public&lastEventId=%00", 400),
        ("channel=public&lastEventId=%E2%80%A8", 400),
        ("channel=public&lastEventId=%ff", 400),
        ("channel=public&token=%ff", 401),
        ("channel=public&token=%00", 401),
        ("channel=public&token=" + "a" * 5000, 401),
    ],
)
def test_raw_bad_query_values(site: Site, query: str, status: int) -> None:
    # Raw bytes, not re-encoded by the client: what a hostile or broken client sends.
    client = site.client("alice") if status == 400 else site.client()
    with client.stream("GET", f"{STREAM}?{query}") as response:
        response.read()
    seen_statuses.append((f"raw {query[:40]}", response.status_code))
    assert response.status_code == status, response.text
