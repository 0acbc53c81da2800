"""Streams opened with the site's own API credentials (sse.auth.api_credentials),
over a real socket to Daphne.

The site is tests/sse_app under tests/sse_app/drf_settings.py: its DRF API takes the session,
simplejwt access tokens and DRF's ``Token <key>``, and ``SSE_AUTHENTICATION_CLASSES`` is unset,
so streams take what the API takes. The JWTs are minted here with the site's SECRET_KEY, as
simplejwt's own views would (``AccessToken.for_user``); DRF token keys by the site's own
``drf_create_token``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.test import RequestFactory, override_settings

from sse.auth import api_credentials as api_auth
from sse.auth.tokens import issue_token
from sse.checks import check_settings
from sse.streams.access import StreamRefused, authenticate_stream
from tests.servers import DaphneServer, manage
from tests.sse.conftest import Site, prepare, sse_env

STREAM = "/sse/stream/"
DRF_SETTINGS = "tests.sse_app.drf_settings"
JWT = "rest_framework_simplejwt.authentication.JWTAuthentication"
TOKEN = "rest_framework.authentication.TokenAuthentication"
SESSION = "rest_framework.authentication.SessionAuthentication"
# A generous bound for "within seconds", polled for: a busy two-core machine.
WAIT = 40.0


def start_drf_site(tmp: Path, **extra: str) -> Site:
    env = sse_env(tmp / "db.sqlite3", SSE_HEARTBEAT_SECONDS="1", **extra)
    env["DJANGO_SETTINGS_MODULE"] = DRF_SETTINGS
    users = prepare(env)
    server = DaphneServer(env, asgi="tests.sse_app.asgi:application", log_path=tmp / "daphne.log")
    return Site(server.start(), users)


def stop_site(site: Site) -> None:
    for client in site.clients:
        client.close()
    site.server.stop()


@pytest.fixture(scope="module")
def drf_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """tests/sse_app whose API (and so its streams) takes session, JWT and DRF Token auth."""
    site = start_drf_site(tmp_path_factory.mktemp("drf"))
    try:
        yield site
    finally:
        stop_site(site)


def jwt_for(site: Site, username: str, seconds: float = 300, user_pk: Any = None) -> str:
    """A simplejwt access token for ``username`` that expires in ``seconds`` (negative: expired)."""
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken()
    token["user_id"] = str(site.users[username] if user_pk is None else user_pk)
    token.set_exp(lifetime=timedelta(seconds=seconds))
    return str(token)


def drf_token_key(site: Site, username: str) -> str:
    out = manage(site.env, "drf_create_token", username).stdout
    found = re.search(r"\b([0-9a-f]{40})\b", out)
    assert found, out
    return found.group(1)


def shell(site: Site, code: str) -> str:
    return manage(site.env, "shell", "-v", "0", "-c", code).stdout


def burst(site: Site, channel: str, count: int) -> None:
    staff = site.client("staff")
    answer = staff.post("/burst/", data={"channel": channel, "n": str(count)})
    assert answer.status_code == 200, answer.text


def refused(site: Site, headers: dict[str, str], channel: str = "public", **params: str) -> httpx.Response:
    with httpx.Client(base_url=site.url, timeout=30) as client:
        with client.stream("GET", STREAM, params={"channel": channel, **params}, headers=headers) as response:
            assert response.status_code != 200, "the stream opened"
            response.read()
            return response


class Held:
    """A stream read on a thread of its own until it ends: its status, bytes and events."""

    def __init__(self, site: Site, channels: list[str], headers: dict[str, str], client: Any = None):
        self.client = client or httpx.Client(base_url=site.url, timeout=httpx.Timeout(10, read=120))
        self.params = [("channel", c) for c in channels]
        self.headers = headers
        self.status: int | None = None
        self.body = b""
        self.opened = threading.Event()
        self.ended = threading.Event()
        self.ended_at: float | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.opened.wait(30)

    def _run(self) -> None:
        try:
            with self.client.stream("GET", STREAM, params=self.params, headers=self.headers) as response:
                self.status = response.status_code
                self.opened.set()
                for chunk in response.iter_raw():
                    self.body += chunk
        except httpx.HTTPError:
            pass
        finally:
            self.ended_at = time.monotonic()
            self.opened.set()
            self.ended.set()

    def wait_for(self, text: bytes, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.body:
            assert not self.ended.is_set() or text in self.body, (text, self.body[-500:])
            assert time.monotonic() < deadline, f"{text!r} not in {self.body[-500:]!r}"
            time.sleep(0.05)

    def ticks(self) -> list[int]:
        return [json.loads(m)["n"] for m in re.findall(rb"event: tick\ndata: (.*)\n", self.body)]

    def close(self) -> None:
        self.client.close()
        self.thread.join(10)


@pytest.fixture
def held() -> Iterator[list[Held]]:
    opened: list[Held] = []
    yield opened
    for stream in opened:
        stream.close()


def open_held(held: list[Held], *args: Any, **kwargs: Any) -> Held:
    stream = Held(*args, **kwargs)
    held.append(stream)
    assert stream.status == 200, (stream.status, stream.body)
    stream.wait_for(b"retry:")
    return stream


# -- each kind of credential opens a stream, with no view of the user's ---------------


def test_a_simplejwt_access_token_opens_a_stream(drf_site: Site, held: list[Held]) -> None:
    alice = drf_site.users["alice"]
    headers = {"Authorization": f"Bearer {jwt_for(drf_site, 'alice')}"}
    stream = open_held(held, drf_site, ["scratch.jwt", f"user.{alice}"], headers)
    burst(drf_site, "scratch.jwt", 3)
    stream.wait_for(b'{"n":2}')
    assert stream.ticks() == [0, 1, 2]
    # The channel rules see the JWT's user: another user's channel is refused.
    answer = refused(drf_site, headers, channel=f"user.{drf_site.users['bob']}")
    assert answer.status_code == 403, answer.text


def test_drf_token_authentication_opens_a_stream(drf_site: Site, held: list[Held]) -> None:
    headers = {"Authorization": f"Token {drf_token_key(drf_site, 'bob')}"}
    stream = open_held(held, drf_site, ["scratch.drf-token", f"user.{drf_site.users['bob']}"], headers)
    burst(drf_site, "scratch.drf-token", 2)
    stream.wait_for(b'{"n":1}')
    assert stream.ticks() == [0, 1]


def test_the_session_still_opens_a_stream(drf_site: Site, held: list[Held]) -> None:
    client = drf_site.client("alice")
    stream = open_held(held, drf_site, ["scratch.session"], {}, client=client)
    burst(drf_site, "scratch.session", 1)
    stream.wait_for(b'{"n":0}')
    # A site behind HTTP basic auth: the session still counts (the API's session class says so).
    basic = open_held(held, drf_site, ["public"], {"Authorization": "Basic YWxpY2U6dGVzdA=="}, client=client)
    assert basic.status == 200


def test_stream_tokens_keep_working_beside_them(drf_site: Site, held: list[Held]) -> None:
    token = issue_token(drf_site.users["alice"], ["scratch.sse-token"]).token
    by_header = open_held(held, drf_site, ["scratch.sse-token"], {"Authorization": f"Bearer {token}"})
    with httpx.Client(base_url=drf_site.url, timeout=httpx.Timeout(10, read=120)) as client:
        params = {"channel": "scratch.sse-token", "token": token}
        with client.stream("GET", STREAM, params=params) as by_query:
            assert by_query.status_code == 200
    burst(drf_site, "scratch.sse-token", 1)
    by_header.wait_for(b'{"n":0}')
    # An expired stream token is still the package's: its own message, not the API's.
    # Issued 400 s ago, past SSE_TOKEN_MAX_AGE (a negative max age is refused, not used).
    with mock.patch("time.time", return_value=time.time() - 400):
        expired = issue_token(drf_site.users["alice"], ["public"]).token
    answer = refused(drf_site, {"Authorization": f"Bearer {expired}"})
    assert answer.status_code == 401
    assert answer.text.startswith("token expired"), answer.text


def test_the_api_route_to_a_stream_token_takes_the_jwt(drf_site: Site) -> None:
    """What docs/cross-origin.md describes: POST the JWT to /api/sse/tokens/, stream with the token."""
    headers = {"Authorization": f"Bearer {jwt_for(drf_site, 'alice')}"}
    with httpx.Client(base_url=drf_site.url, timeout=30) as client:
        answer = client.post("/api/sse/tokens/", json={"channels": ["public"]}, headers=headers)
        assert answer.status_code == 201, answer.text
        token = answer.json()["token"]
        with client.stream("GET", STREAM, params={"channel": "public", "token": token}) as response:
            assert response.status_code == 200


# -- refusals: 401 with the authentication class's own message, never a 500 -----------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer not-a-token-of-any-kind", "Given token not valid for any token type"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiMSJ9.c2lnbmF0dXJl", "Given token not valid"),
        ("Bearer " + "x" * 5000, "Given token not valid"),
        ("Token 0000000000000000000000000000000000000000", "Invalid token."),
        ("Token a b", "Invalid token header"),
        ("Basic Ym9iOndyb25n", "sign in"),  # not a class of this API: the session decides
    ],
)
def test_a_credential_the_api_refuses_is_a_readable_401(drf_site: Site, header: str, message: str) -> None:
    answer = refused(drf_site, {"Authorization": header})
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    assert message in answer.text, answer.text
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_an_expired_jwt_is_a_401_that_says_so(drf_site: Site) -> None:
    answer = refused(drf_site, {"Authorization": f"Bearer {jwt_for(drf_site, 'alice', seconds=-30)}"})
    assert answer.status_code == 401
    assert "Token is expired" in answer.text, answer.text


def test_a_jwt_of_a_user_that_no_longer_exists_is_a_401(drf_site: Site) -> None:
    answer = refused(drf_site, {"Authorization": f"Bearer {jwt_for(drf_site, 'alice', user_pk=987654)}"})
    assert answer.status_code == 401
    assert "User not found" in answer.text, answer.text


# -- a stream stands on its credential while open ---------------------------------------


def test_a_stream_opened_with_a_jwt_ends_at_its_expiry_with_a_retry(drf_site: Site, held: list[Held]) -> None:
    lifetime = 6.0
    headers = {"Authorization": f"Bearer {jwt_for(drf_site, 'alice', seconds=lifetime)}"}
    minted = time.monotonic()
    stream = open_held(held, drf_site, ["scratch.expiry"], headers)
    burst(drf_site, "scratch.expiry", 1)
    stream.wait_for(b'{"n":0}')
    assert stream.ended.wait(lifetime + WAIT), "the stream outlived its JWT"
    assert stream.ended_at is not None
    # simplejwt's exp is whole seconds: the stream may end up to a second before the float lifetime.
    assert stream.ended_at - minted >= lifetime - 1.5, stream.ended_at - minted
    _, _, after_event = stream.body.partition(b'{"n":0}')
    assert re.search(rb"\nretry: \d+\n", after_event), stream.body[-300:]
    # It came back with the same JWT, now expired: refused, and told why.
    answer = refused(drf_site, headers, channel="scratch.expiry")
    assert answer.status_code == 401 and "Token is expired" in answer.text


def test_a_deactivated_users_jwt_stream_ends(tmp_path: Path, held: list[Held]) -> None:
    site = start_drf_site(tmp_path)
    try:
        headers = {"Authorization": f"Bearer {jwt_for(site, 'bob')}"}
        stream = open_held(held, site, ["public"], headers)
        # From another process: only the server's periodic identity check can see it.
        shell(
            site,
            "from django.contrib.auth import get_user_model\n"
            "get_user_model().objects.filter(username='bob').update(is_active=False)",
        )
        assert stream.ended.wait(WAIT), "the deactivated user's stream stayed open"
        answer = refused(site, headers)
        assert answer.status_code == 401 and "inactive" in answer.text.lower(), answer.text
    finally:
        stop_site(site)


def test_the_setting_names_the_classes_streams_take(tmp_path: Path, held: list[Held]) -> None:
    """SSE_AUTHENTICATION_CLASSES overrides the API's: here DRF's Token only, no JWT."""
    site = start_drf_site(tmp_path, SSE_AUTHENTICATION_CLASSES=json.dumps([TOKEN]))
    try:
        key = drf_token_key(site, "alice")
        open_held(held, site, ["public"], {"Authorization": f"Token {key}"})
        answer = refused(site, {"Authorization": f"Bearer {jwt_for(site, 'alice')}"})
        assert answer.status_code == 401
        assert "invalid token" in answer.text, answer.text
        # The session and the package's own tokens need no class.
        open_held(held, site, ["public"], {}, client=site.client("alice"))
        token = issue_token(site.users["alice"], ["public"]).token
        open_held(held, site, ["public"], {"Authorization": f"Bearer {token}"})
    finally:
        stop_site(site)


# -- which requests go to DRF at all (in this process, no server) ------------------------


def _request(headers: dict[str, str], query: str = "channel=public") -> Any:
    request = RequestFactory().get(f"{STREAM}?{query}", headers=headers)

    class User:
        pk = 7
        is_authenticated = True
        is_active = True

        def get_session_auth_hash(self) -> str:
            return "hash"

    async def auser() -> Any:
        return User()

    request.auser = auser
    return request


@override_settings(SSE_AUTHENTICATION_CLASSES=[SESSION, JWT, TOKEN])
def test_session_and_stream_tokens_never_reach_drf() -> None:
    with mock.patch.object(api_auth, "authenticate", side_effect=AssertionError("DRF called")) as called:
        user = async_to_sync(authenticate_stream)(_request({}), ["public"])
        assert user.pk == 7
        # A stream token is read by the package itself, DRF untouched (here: refused, 403).
        token = issue_token(7, ["other"]).token
        with pytest.raises(StreamRefused) as refusal:
            async_to_sync(authenticate_stream)(_request({"Authorization": f"Bearer {token}"}), ["public"])
        assert refusal.value.status == 403
        assert not called.called


@override_settings(SSE_AUTHENTICATION_CLASSES=[SESSION])
def test_session_only_classes_make_no_drf_call() -> None:
    with mock.patch.object(api_auth, "authenticate", side_effect=AssertionError("DRF called")):
        user = async_to_sync(authenticate_stream)(_request({"Authorization": "Basic eDp5"}), ["public"])
        assert user.pk == 7
        with pytest.raises(StreamRefused) as refusal:
            async_to_sync(authenticate_stream)(_request({"Authorization": "Bearer abc"}), ["public"])
        assert refusal.value.status == 401 and "invalid token" in refusal.value.message


def test_default_classes_are_the_apis() -> None:
    from rest_framework.authentication import SessionAuthentication

    with override_settings(REST_FRAMEWORK={"DEFAULT_AUTHENTICATION_CLASSES": [SESSION, JWT]}):
        names = [f"{c.__module__}.{c.__qualname__}" for c in api_auth.stream_classes()]
        assert names == [SESSION, JWT]
    with override_settings(SSE_AUTHENTICATION_CLASSES=[]):
        assert api_auth.stream_classes() == ()
    with override_settings(SSE_AUTHENTICATION_CLASSES=[SessionAuthentication, TOKEN]):
        names = [c.__name__ for c in api_auth.stream_classes()]
        assert names == ["SessionAuthentication", "TokenAuthentication"]


def test_messages_and_expiry_read_from_drf() -> None:
    from datetime import UTC, datetime

    simplejwt_detail = {
        "detail": "Given token not valid for any token type",
        "code": "token_not_valid",
        "messages": [{"token_class": "AccessToken", "token_type": "access", "message": "Token is expired"}],
    }
    assert api_auth.message(simplejwt_detail) == "Given token not valid for any token type: Token is expired"
    assert api_auth.message("Invalid token.") == "Invalid token."
    assert api_auth.message(["a", "b"]) == "a; b"
    assert api_auth.credential_expiry(None) is None
    assert api_auth.credential_expiry({"exp": 1700000000}) == 1700000000.0
    assert api_auth.credential_expiry({"exp": True}) is None

    class Knox:
        expiry = datetime(2030, 1, 1, tzinfo=UTC)

    assert api_auth.credential_expiry(Knox()) == Knox.expiry.timestamp()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("rest_framework.authentication.TokenAuthentication", "is a str; expected a list"),
        (["no.such.Class"], "SSE_AUTHENTICATION_CLASSES[0] = 'no.such.Class' cannot be imported"),
        ([TOKEN, "sse.conf.conf"], "[1] = 'sse.conf.conf' is not an authentication class"),
    ],
)
def test_a_wrong_setting_is_its_own_error(value: Any, expected: str) -> None:
    with override_settings(SSE_AUTHENTICATION_CLASSES=value):
        [message] = check_settings()
    assert message.id == "sse.E121"
    assert expected in message.msg, message.msg
    assert "DEFAULT_AUTHENTICATION_CLASSES" in message.hint


@pytest.mark.parametrize("value", [None, [], [SESSION, JWT, TOKEN], (TOKEN,)])
def test_right_settings_pass_the_check(value: Any) -> None:
    with override_settings(SSE_AUTHENTICATION_CLASSES=value):
        assert check_settings() == []
