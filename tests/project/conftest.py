"""Fixtures for tests of the demo project over real sockets."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from sse.testing import EventParser
from tests.htmx.proxy import Proxy
from tests.servers import DaphneServer, prepare_database, project_env


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    """The project under Daphne: SQLite, in-memory layer, seeded demo data."""
    tmp = tmp_path_factory.mktemp("site")
    env = project_env(f"sqlite:///{tmp / 'db.sqlite3'}", SSE_HEARTBEAT_SECONDS="1")
    prepare_database(env)
    server = DaphneServer(env, log_path=tmp / "daphne.log")
    with server:
        yield server


def login(base_url: str, username: str, password: str = "demo") -> httpx.Client:
    """An httpx client signed in through the real login form (session + CSRF cookies)."""
    client = httpx.Client(base_url=base_url, timeout=10)
    page = client.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, "login form has no CSRF token"
    answer = client.post(
        "/accounts/login/",
        data={"csrfmiddlewaretoken": token.group(1), "username": username, "password": password},
        headers={"Referer": f"{base_url}/accounts/login/"},
    )
    assert answer.status_code == 302, f"login of {username} failed: {answer.status_code}"
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    client.headers["Referer"] = base_url + "/"
    return client


def browser_login(page: object, base_url: str, username: str, password: str = "demo") -> None:
    page.goto(f"{base_url}/accounts/login/")  # type: ignore[attr-defined]
    page.fill("#id_username", username)  # type: ignore[attr-defined]
    page.fill("#id_password", password)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(f"{base_url}/")  # type: ignore[attr-defined]


@pytest.fixture
def proxy(site: DaphneServer) -> Iterator[Proxy]:
    """A proxy in front of the site, counting its stream connections (tests/htmx/proxy.py)."""
    front = Proxy(site.port).start()
    yield front
    front.stop()


@pytest.fixture
def alice(site: DaphneServer) -> Iterator[httpx.Client]:
    client = login(site.url, "alice")
    yield client
    client.close()


@pytest.fixture
def bob(site: DaphneServer) -> Iterator[httpx.Client]:
    client = login(site.url, "bob")
    yield client
    client.close()


@pytest.fixture
def admin(site: DaphneServer) -> Iterator[httpx.Client]:
    client = login(site.url, "admin")
    yield client
    client.close()


def read_events(response: httpx.Response, count: int, *, timeout: float = 10.0) -> list[dict[str, str]]:
    """Server-sent events from a streaming httpx response, until ``count`` events with data.

    Each is {"event", "id", "data"}: ``id`` is the stream's last event id when it came.
    """
    import time

    events: list[dict[str, str]] = []
    parser = EventParser()
    deadline = time.monotonic() + timeout
    for chunk in response.iter_raw():
        if time.monotonic() > deadline:
            break
        for event in parser.feed(chunk):
            events.append({"event": event.event, "id": event.id, "data": event.data})
            if len(events) >= count:
                return events
    return events
