"""Access is not only checked at the door: open streams end when their user signs out,
changes password, is deactivated or loses access to a channel; stream tokens die with
the session and the password they were minted under. Real Daphne, real sockets.

The server re-checks every second (SSE_ACCESS_RECHECK_SECONDS=1), so the waits below
are generous bounds polled for, not timings. Changes made with ``manage.py shell`` come
from another process: only the server's periodic re-check can see them.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest

from sse.testing import EventParser
from tests.project.conftest import login
from tests.servers import DaphneServer, manage, prepare_database, project_env

# Generous bounds (the promise is 10 s for a sign-out, 60 s for a lost channel).
SIGN_OUT_WAIT = 30.0
LOST_ACCESS_WAIT = 60.0


@pytest.fixture(scope="module")
def access_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    tmp = tmp_path_factory.mktemp("access")
    env = project_env(
        f"sqlite:///{tmp / 'db.sqlite3'}",
        settings="tests.project.access_settings",
        SSE_ACCESS_RECHECK_SECONDS="1",
        SSE_HEARTBEAT_SECONDS="1",
    )
    prepare_database(env)
    with DaphneServer(env, log_path=tmp / "daphne.log") as server:
        yield server


def shell(site: DaphneServer, code: str) -> None:
    """Run ``code`` in another process (manage.py shell) against the site's database."""
    manage(site.env, "shell", "-c", code)


def make_user(site: DaphneServer, *, staff: bool = False, room: str | None = None) -> str:
    name = "u" + uuid.uuid4().hex[:10]
    code = (
        "from django.contrib.auth import get_user_model\n"
        f"u = get_user_model().objects.create_user({name!r}, password='demo', is_staff={staff!r})\n"
    )
    if room:
        code += f"from chat.models import Room\nRoom.objects.get(slug={room!r}).members.add(u)\n"
    shell(site, code)
    return name


class OpenStream:
    """A stream kept open on a thread of its own (its own client): events, and whether it ended."""

    def __init__(self, site: DaphneServer, path: str, cookies: httpx.Cookies | None = None, **kwargs: object):
        self.client = httpx.Client(base_url=site.url, cookies=cookies, timeout=httpx.Timeout(10, read=120))
        self.path = path
        self.kwargs = kwargs
        self.status: int | None = None
        self.events: list[tuple[str, str]] = []
        self.opened = threading.Event()
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.opened.wait(30), "the stream did not answer"

    def _run(self) -> None:
        parser = EventParser()
        try:
            with self.client.stream("GET", self.path, **self.kwargs) as response:  # type: ignore[arg-type]
                self.status = response.status_code
                self.opened.set()
                for chunk in response.iter_raw():
                    for event in parser.feed(chunk):
                        self.events.append((event.event, event.data))
        except httpx.HTTPError:
            pass
        finally:
            self.opened.set()
            self.ended.set()

    def wait_for(self, name: str, timeout: float = 30.0) -> None:
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            while not deadline.is_set():
                if any(event == name for event, _ in self.events):
                    return
                assert not self.ended.is_set(), f"the stream ended before any {name!r} event"
                deadline.wait(0.1)
        finally:
            timer.cancel()
        raise AssertionError(f"no {name!r} event in {timeout}s")

    def close(self) -> None:
        self.client.close()
        self.thread.join(10)


@pytest.fixture
def streams() -> Iterator[list[OpenStream]]:
    opened: list[OpenStream] = []
    yield opened
    for stream in opened:
        stream.close()


def open_stream(streams: list[OpenStream], site: DaphneServer, path: str, **kwargs: object) -> OpenStream:
    stream = OpenStream(site, path, **kwargs)
    streams.append(stream)
    assert stream.status == 200, stream.status
    return stream


def status_of(client: httpx.Client, path: str, **kwargs: object) -> int:
    """The status of a stream request that must be refused (never read as a stream)."""
    with client.stream("GET", path, **kwargs) as response:  # type: ignore[arg-type]
        assert response.status_code != 200, "the stream opened"
        response.read()
        return response.status_code


def form_token(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_out(client: httpx.Client) -> None:
    answer = client.post("/accounts/logout/", data={"csrfmiddlewaretoken": client.cookies["csrftoken"]})
    assert answer.status_code == 302, answer.status_code


def change_password(client: httpx.Client) -> None:
    token = form_token(client, "/accounts/password_change/")
    answer = client.post(
        "/accounts/password_change/",
        data={
            "csrfmiddlewaretoken": token,
            "old_password": "demo",
            "new_password1": "another-Secret-42",
            "new_password2": "another-Secret-42",
        },
    )
    assert answer.status_code == 302, answer.text[:500]


def mint(client: httpx.Client, channels: list[str]) -> str:
    answer = client.post("/api/sse/tokens/", json={"channels": channels})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


# -- channels: losing access ends the stream --------------------------------------------


def test_removed_from_private_room_stream_ends(access_site: DaphneServer, streams: list[OpenStream]) -> None:
    name = make_user(access_site, room="staff")
    user = login(access_site.url, name)
    admin = login(access_site.url, "admin")
    stream = open_stream(streams, access_site, "/chat/staff/stream/", cookies=user.cookies)
    assert admin.post("/api/chat/staff/messages/", json={"body": "before"}).status_code == 201
    stream.wait_for("message")

    shell(
        access_site,
        "from chat.models import Room\nfrom django.contrib.auth import get_user_model\n"
        f"Room.objects.get(slug='staff').members.remove(get_user_model().objects.get(username={name!r}))",
    )
    assert user.get("/api/chat/staff/messages/").status_code == 404
    assert stream.ended.wait(LOST_ACCESS_WAIT), "the removed member's stream stayed open"
    assert status_of(user, "/chat/staff/stream/") == 404


def test_demoted_staff_dashboard_stream_ends(access_site: DaphneServer, streams: list[OpenStream]) -> None:
    name = make_user(access_site, staff=True)
    user = login(access_site.url, name)
    stream = open_stream(streams, access_site, "/dashboard/stream/", cookies=user.cookies)
    stream.wait_for("metrics")

    shell(
        access_site,
        "from django.contrib.auth import get_user_model\n"
        f"get_user_model().objects.filter(username={name!r}).update(is_staff=False)",
    )
    assert stream.ended.wait(LOST_ACCESS_WAIT), "the demoted user still receives metrics"
    assert status_of(user, "/dashboard/stream/") == 403


# -- the user: sign-out, password, deactivation -----------------------------------------


def test_sign_out_ends_stream(access_site: DaphneServer, streams: list[OpenStream]) -> None:
    user = login(access_site.url, make_user(access_site))
    other = login(access_site.url, "bob")
    stream = open_stream(streams, access_site, "/chat/lobby/stream/", cookies=user.cookies)
    bystander = open_stream(streams, access_site, "/chat/lobby/stream/", cookies=other.cookies)
    sign_out(user)
    assert stream.ended.wait(SIGN_OUT_WAIT), "the stream outlived its session"
    assert not bystander.ended.is_set(), "another user's stream ended too"


def test_session_signed_out_in_another_process_ends_stream(
    access_site: DaphneServer, streams: list[OpenStream]
) -> None:
    name = make_user(access_site)
    user = login(access_site.url, name)
    stream = open_stream(streams, access_site, "/notifications/stream/", cookies=user.cookies)
    # Another server process signs the session out: this one hears no signal.
    shell(
        access_site,
        "from django.contrib.sessions.models import Session\n"
        "from django.contrib.auth import get_user_model\n"
        f"pk = str(get_user_model().objects.get(username={name!r}).pk)\n"
        "for s in Session.objects.all():\n"
        "    if s.get_decoded().get('_auth_user_id') == pk: s.delete()\n",
    )
    assert stream.ended.wait(SIGN_OUT_WAIT), "the stream outlived its session"
    assert status_of(user, "/notifications/stream/") == 401


def test_password_change_ends_stream(access_site: DaphneServer, streams: list[OpenStream]) -> None:
    user = login(access_site.url, make_user(access_site))
    stream = open_stream(streams, access_site, "/notifications/stream/", cookies=user.cookies)
    change_password(user)
    assert stream.ended.wait(SIGN_OUT_WAIT), "the stream outlived the password"
    # The session that changed the password stays signed in: it opens a new stream.
    open_stream(streams, access_site, "/notifications/stream/", cookies=user.cookies)


def test_password_changed_in_another_process_ends_stream(
    access_site: DaphneServer, streams: list[OpenStream]
) -> None:
    name = make_user(access_site)
    user = login(access_site.url, name)
    stream = open_stream(streams, access_site, "/notifications/stream/", cookies=user.cookies)
    shell(
        access_site,
        "from django.contrib.auth import get_user_model\n"
        f"u = get_user_model().objects.get(username={name!r})\nu.set_password('x-Other-99')\nu.save()",
    )
    assert stream.ended.wait(SIGN_OUT_WAIT), "the stream outlived the password"
    assert status_of(user, "/notifications/stream/") == 401


def test_deactivation_ends_stream(access_site: DaphneServer, streams: list[OpenStream]) -> None:
    name = make_user(access_site)
    user = login(access_site.url, name)
    stream = open_stream(streams, access_site, "/chat/lobby/stream/", cookies=user.cookies)
    shell(
        access_site,
        "from django.contrib.auth import get_user_model\n"
        f"get_user_model().objects.filter(username={name!r}).update(is_active=False)",
    )
    assert stream.ended.wait(SIGN_OUT_WAIT), "the deactivated user's stream stayed open"
    assert status_of(user, "/chat/lobby/stream/") == 401


# -- tokens: bound to their session and password -----------------------------------------


def test_token_after_sign_out_is_refused(access_site: DaphneServer, streams: list[OpenStream]) -> None:
    user = login(access_site.url, make_user(access_site))
    token = mint(user, ["broadcast"])
    path = f"/sse/stream/?channel=broadcast&token={token}"
    stream = open_stream(streams, access_site, path)
    sign_out(user)
    assert stream.ended.wait(SIGN_OUT_WAIT), "the token's stream outlived its session"
    with httpx.Client(base_url=access_site.url, timeout=30) as anonymous:
        assert status_of(anonymous, path) == 401


def test_token_after_password_change_is_refused(access_site: DaphneServer, streams: list[OpenStream]) -> None:
    user = login(access_site.url, make_user(access_site))
    token = mint(user, ["broadcast"])
    path = f"/sse/stream/?channel=broadcast&token={token}"
    stream = open_stream(streams, access_site, path)
    change_password(user)
    assert stream.ended.wait(SIGN_OUT_WAIT), "the token's stream outlived the password"
    with httpx.Client(base_url=access_site.url, timeout=30) as anonymous:
        assert status_of(anonymous, path) == 401


# -- a site behind basic auth ------------------------------------------------------------


def test_basic_authorization_header_falls_through_to_the_session(
    access_site: DaphneServer, streams: list[OpenStream]
) -> None:
    user = login(access_site.url, "alice")
    headers = {"Authorization": "Basic YWxpY2U6c2VjcmV0"}  # what a proxy's basic auth leaves on
    stream = open_stream(streams, access_site, "/chat/lobby/stream/", cookies=user.cookies, headers=headers)
    assert not stream.ended.is_set()
    with httpx.Client(base_url=access_site.url, timeout=30) as anonymous:
        # Without a session it is still "sign in", never a server error.
        assert status_of(anonymous, "/chat/lobby/stream/", headers=headers) == 401
