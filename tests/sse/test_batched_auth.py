"""sse.auth.batched: streams opening together share their session and user look-ups.

Over a real socket: a burst of streams opening at once, with every kind of session
mixed in, gets the answers one stream at a time would get. In process: the batching
itself, and each case the batch hands back to Django's ``request.auser()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model, login
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings

from sse.auth import batched as batched_auth
from sse.auth.batched import batched_session_user
from tests.servers import DaphneServer
from tests.sse.conftest import Site, prepare, sse_env
from tests.sse.test_revocation import new_password_hash, sign_out_elsewhere

STREAM = "/sse/stream/"


@pytest.fixture(scope="module")
def burst_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """tests/sse_app behind sse.server.asgi (where look-ups are batched); its users' passwords change."""
    tmp = tmp_path_factory.mktemp("burst")
    env = sse_env(tmp / "db.sqlite3")
    users = prepare(env)
    server = DaphneServer(env, asgi="tests.sse_app.streaming_asgi:application", log_path=tmp / "daphne.log")
    running = Site(server.start(), users)
    try:
        yield running
    finally:
        for client in running.clients:
            client.close()
        server.stop()


def first_answer(site: Site, cookies: httpx.Cookies, channel: str) -> tuple[int, bytes]:
    """Open a stream: its status and first bytes (a 200's ``retry:`` line), then close it."""
    with httpx.Client(base_url=site.url, cookies=cookies, timeout=60) as client:
        with client.stream("GET", STREAM, params={"channel": channel}) as response:
            if response.status_code != 200:
                return response.status_code, response.read()
            return 200, next(response.iter_raw())


def test_a_burst_of_streams_gets_the_answers_one_at_a_time_would(burst_site: Site) -> None:
    site = burst_site
    clients = {name: site.client(name) for name in ("alice", "bob")}
    signed_out = site.client("bob")
    sign_out_elsewhere(site, signed_out.cookies["sessionid"])
    changed = site.client("staff")
    new_password_hash(site, "staff")  # both staff sessions signed in before it: no longer valid
    fresh_staff = site.client("staff")
    cases: list[tuple[str, httpx.Cookies, str, int]] = []
    for _ in range(8):
        for name in ("alice", "bob"):
            cases.append((name, clients[name].cookies, f"user.{site.users[name]}", 200))
        cases.append(("staff after the change", fresh_staff.cookies, f"user.{site.users['staff']}", 200))
        cases.append(("alice on bob's channel", clients["alice"].cookies, f"user.{site.users['bob']}", 403))
        cases.append(("signed out", signed_out.cookies, f"user.{site.users['bob']}", 401))
        cases.append(("password changed", changed.cookies, f"user.{site.users['staff']}", 401))
        cases.append(("no session", httpx.Cookies(), "public", 401))
    with ThreadPoolExecutor(max_workers=len(cases)) as pool:
        answers = list(pool.map(lambda case: first_answer(site, case[1], case[2]), cases))
    wrong = [
        (what, channel, status, body[:80])
        for (what, _, channel, want), (status, body) in zip(cases, answers, strict=True)
        if status != want or (status == 200 and not body.startswith(b"retry:"))
    ]
    assert not wrong, wrong


# -- in process ----------------------------------------------------------------------


def _request_of(session_key: str | None) -> HttpRequest:
    from django.contrib.auth.middleware import AuthenticationMiddleware

    request = RequestFactory().get(STREAM)
    if session_key:
        request.COOKIES["sessionid"] = session_key
    SessionMiddleware(lambda r: HttpResponse()).process_request(request)
    AuthenticationMiddleware(lambda r: HttpResponse()).process_request(request)
    return request


def _signed_in_session(username: str) -> str:
    user = get_user_model().objects.get(username=username)
    request = _request_of(None)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session.save()
    return str(request.session.session_key)


def _make_user(username: str) -> None:
    get_user_model().objects.create_user(username, password="test")


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], list[str]]]:
    """Every batch read: (session keys, user pks)."""
    seen: list[tuple[list[str], list[str]]] = []
    real = batched_auth._read

    def counted(keys: list[str], pks: list[str]) -> batched_auth.Lookup:
        seen.append((list(keys), list(pks)))
        return real(keys, pks)

    monkeypatch.setattr(batched_auth, "_read", counted)
    return seen


@pytest.mark.django_db(transaction=True)
async def test_streams_opening_together_share_one_read(reads: list[Any]) -> None:
    names = [f"batch{n}" for n in range(5)]
    for name in names:
        await sync_to_async(_make_user)(name)
    keys = [await sync_to_async(_signed_in_session)(name) for name in names]
    requests = [_request_of(key) for key in keys]
    users = await asyncio.gather(*(batched_session_user(r) for r in requests))
    assert [u.username for u in users] == names
    assert len(reads) == 1 and sorted(reads[0][0]) == sorted(keys), reads
    for request, user in zip(requests, users, strict=True):
        # Django's own accessors see the same user and the session read in the batch.
        assert await request.auser() is user  # type: ignore[attr-defined]
        assert request.session.accessed and request.session["_auth_user_id"] == str(user.pk)


@pytest.mark.django_db(transaction=True)
async def test_a_lone_stream_is_answered_at_once_and_the_next_batch_follows(reads: list[Any]) -> None:
    await sync_to_async(_make_user)("lone")
    key = await sync_to_async(_signed_in_session)("lone")
    first = await batched_session_user(_request_of(key))
    second = await batched_session_user(_request_of(key))
    assert first is not None and second is not None and first.username == "lone"
    assert len(reads) == 2, reads


def _change_password(username: str) -> None:
    user = get_user_model().objects.get(username=username)
    user.set_password("another")
    user.save()


def _deactivate(username: str) -> None:
    get_user_model().objects.filter(username=username).update(is_active=False)


def _delete_session(key: str) -> None:
    from django.contrib.sessions.models import Session

    Session.objects.filter(pk=key).delete()


def _replace_auser(request: HttpRequest) -> None:
    async def auser() -> Any:
        raise AssertionError("not called here")

    request.auser = auser  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("case", "change"),
    [
        ("password changed since sign-in", lambda key: _change_password("handback")),
        ("inactive user", lambda key: _deactivate("handback")),
        ("session signed out", lambda key: _delete_session(key)),
    ],
)
async def test_what_django_may_decide_otherwise_goes_back_to_auser(
    case: str, change: Callable[[str], Any], reads: list[Any]
) -> None:
    await sync_to_async(_make_user)("handback")
    key = await sync_to_async(_signed_in_session)("handback")
    await sync_to_async(change)(key)
    request = _request_of(key)
    assert await batched_session_user(request) is None, case
    # Django's answer is then the one used: not signed in.
    user = await request.auser()  # type: ignore[attr-defined]
    assert not user.is_authenticated, case


@pytest.mark.django_db(transaction=True)
async def test_other_session_engines_and_a_replaced_auser_are_not_batched(reads: list[Any]) -> None:
    await sync_to_async(_make_user)("other")
    key = await sync_to_async(_signed_in_session)("other")
    with override_settings(SESSION_ENGINE="django.contrib.sessions.backends.cache"):
        assert await batched_session_user(_request_of(key)) is None
    replaced = _request_of(key)
    _replace_auser(replaced)
    assert await batched_session_user(replaced) is None
    assert await batched_session_user(_request_of(None)) is None  # no session cookie
    assert reads == [], "a case left to Django still read in a batch"
    # And the plain case still works beside them.
    user = await batched_session_user(_request_of(key))
    assert user is not None and user.username == "other"
