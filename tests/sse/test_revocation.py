"""Access follows the user, with only the sse app: a stream (or a stream token) stands on
the session and the password it came from. Real Daphne over a socket; the changes are
made from another process (manage.py shell), so only the server's periodic identity
check (every min(SSE_ACCESS_RECHECK_SECONDS, 5) s) can see them."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from sse.auth.tokens import InvalidToken, issue_token, verify_token
from tests.servers import manage
from tests.sse.conftest import Site, site_fixture

STREAM = "/sse/stream/"
# A generous bound for "within seconds", polled for.
WAIT = 40.0

revocation_site = site_fixture(
    "revocation_site", "tests/sse_app for the revocation tests (its own users' state)."
)


def shell(site: Site, code: str) -> str:
    return manage(site.env, "shell", "-v", "0", "-c", code).stdout


def mint(site: Site, username: str, channels: list[str], session_key: str | None) -> str:
    """A token minted in another process, as a token endpoint would: for the user object."""
    out = shell(
        site,
        "from django.contrib.auth import get_user_model\nfrom sse.auth.tokens import issue_token\n"
        f"u = get_user_model().objects.get(username={username!r})\n"
        f"print(issue_token(u, {channels!r}, session_key={session_key!r}).token)",
    )
    return out.strip().splitlines()[-1]


def new_password_hash(site: Site, username: str) -> None:
    # The same password again, with a new salt: the hash changes, signing in still works.
    shell(
        site,
        "from django.contrib.auth import get_user_model\n"
        f"u = get_user_model().objects.get(username={username!r})\nu.set_password('test')\nu.save()",
    )


def sign_out_elsewhere(site: Site, session_key: str) -> None:
    shell(
        site,
        "from django.contrib.sessions.models import Session\n"
        f"Session.objects.filter(pk={session_key!r}).delete()",
    )


class Held:
    """A stream read on a thread of its own until it ends."""

    def __init__(self, site: Site, params: dict[str, str], cookies: httpx.Cookies | None = None):
        self.client = httpx.Client(base_url=site.url, cookies=cookies, timeout=httpx.Timeout(10, read=120))
        self.status: int | None = None
        self.socket: socket.socket | None = None
        self.opened = threading.Event()
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(params,), daemon=True)
        self.thread.start()
        assert self.opened.wait(30)

    def _run(self, params: dict[str, str]) -> None:
        try:
            with self.client.stream("GET", STREAM, params=params) as response:
                self.status = response.status_code
                network = response.extensions.get("network_stream")
                self.socket = network.get_extra_info("socket") if network is not None else None
                self.opened.set()
                for _ in response.iter_raw():
                    pass
        except httpx.HTTPError:
            pass
        finally:
            self.opened.set()
            self.ended.set()

    def close(self) -> None:
        # Closing the client does not wake a read blocked on a quiet stream (it would wait
        # for the next heartbeat); shutting the socket down does.
        if self.socket is not None:
            with contextlib.suppress(OSError):
                self.socket.shutdown(socket.SHUT_RDWR)
        self.client.close()
        self.thread.join(10)


@pytest.fixture
def held() -> Iterator[list[Held]]:
    opened: list[Held] = []
    yield opened
    for stream in opened:
        stream.close()


def refused(site: Site, params: dict[str, str], cookies: httpx.Cookies | None = None) -> httpx.Response:
    with httpx.Client(base_url=site.url, cookies=cookies, timeout=30) as client:
        with client.stream("GET", STREAM, params=params) as response:
            assert response.status_code != 200, "the stream opened"
            response.read()
            return response


def test_a_token_bound_to_a_signed_out_session_is_refused_and_its_stream_ends(
    revocation_site: Site, held: list[Held]
) -> None:
    client = revocation_site.client("alice")
    session_key = client.cookies["sessionid"]
    token = mint(revocation_site, "alice", ["public"], session_key)
    params = {"channel": "public", "token": token}
    stream = Held(revocation_site, params)
    held.append(stream)
    assert stream.status == 200

    sign_out_elsewhere(revocation_site, session_key)
    assert stream.ended.wait(WAIT), "the token's stream outlived its session"
    answer = refused(revocation_site, params)
    assert answer.status_code == 401 and "signed out" in answer.text, answer.text


def test_a_token_minted_before_a_password_change_is_refused_and_its_stream_ends(
    revocation_site: Site, held: list[Held]
) -> None:
    client = revocation_site.client("bob")
    token = mint(revocation_site, "bob", ["public"], client.cookies["sessionid"])
    params = {"channel": "public", "token": token}
    stream = Held(revocation_site, params)
    held.append(stream)
    assert stream.status == 200

    new_password_hash(revocation_site, "bob")
    assert stream.ended.wait(WAIT), "the token's stream outlived the password"
    answer = refused(revocation_site, params)
    assert answer.status_code == 401 and "password" in answer.text, answer.text


def test_a_session_stream_ends_when_the_session_signs_out_elsewhere(
    revocation_site: Site, held: list[Held]
) -> None:
    client = revocation_site.client("staff")
    stream = Held(revocation_site, {"channel": "public"}, cookies=client.cookies)
    held.append(stream)
    assert stream.status == 200
    bystander = Held(revocation_site, {"channel": "public"}, cookies=revocation_site.client("staff").cookies)
    held.append(bystander)

    sign_out_elsewhere(revocation_site, client.cookies["sessionid"])
    assert stream.ended.wait(WAIT), "the stream outlived its session"
    assert not bystander.ended.is_set(), "the same user's other session lost its stream"
    assert refused(revocation_site, {"channel": "public"}, cookies=client.cookies).status_code == 401


def test_basic_authorization_falls_through_to_the_session(revocation_site: Site, held: list[Held]) -> None:
    client = revocation_site.client("alice")
    client.headers["Authorization"] = "Basic YWxpY2U6dGVzdA=="
    with client.stream("GET", STREAM, params={"channel": "public"}) as response:
        assert response.status_code == 200
        assert next(response.iter_raw()).startswith(b"retry: ")


def test_a_token_carries_its_session_sealed() -> None:
    token = issue_token(7, ["public"], session_key="abcdefghijklmnopqrstuvwxyz012345")
    assert "abcdefghijklmnopqrstuvwxyz012345" not in token.token
    back = verify_token(token.token)
    assert back.session_key == "abcdefghijklmnopqrstuvwxyz012345"
    assert back.auth_digest is None  # a bare pk binds no password
    assert verify_token(issue_token(7, ["public"]).token).session_key is None


def test_a_token_for_a_user_object_is_bound_to_its_password() -> None:
    class User:
        pk = 3

        def __init__(self, password_hash: str) -> None:
            self.password_hash = password_hash

        def get_session_auth_hash(self) -> str:
            return self.password_hash

    first = verify_token(issue_token(User("one"), ["public"]).token)
    assert first.user_pk == "3" and first.auth_digest
    assert first.auth_digest != verify_token(issue_token(User("two"), ["public"]).token).auth_digest


def test_a_tampered_sealed_session_is_invalid() -> None:
    import time

    from django.core import signing

    payload = {"u": "7", "c": ["public"], "e": int(time.time()) + 60, "s": "!!!"}
    with pytest.raises(InvalidToken):
        verify_token(signing.dumps(payload, salt="sse.stream-token"))
