"""The operator console in headless Chromium against a real Daphne, with several users at once:
admin on /console/, alice and bob on their own live pages. The tail shows what is published
while watching (the filter hides the rest), the streams table lists alice's stream and its
Disconnect ends it (her page reconnects), the composer's receipt says whom a notification
reached. Then who may use it at all, over plain HTTP."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.notifications.helpers import open_events
from tests.project.conftest import browser_login, login
from tests.servers import DaphneServer, RedisServer, manage, prepare_database, project_env

VIEWPORT = {"width": 1280, "height": 800}
LIVE = "#live-state[data-state=live]"
WAIT_MS = 60000


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def console_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    """A server of its own (the in-memory layer, SQLite): what the tests publish and send
    stays out of the shared site; plus a staff user without the console permission."""
    tmp = tmp_path_factory.mktemp("console")
    env = project_env(f"sqlite:///{tmp / 'db.sqlite3'}", SSE_HEARTBEAT_SECONDS="1")
    env.pop("REDIS_URL", None)
    prepare_database(env)
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        "User.objects.create_user('carol', password='demo', is_staff=True)",
    )
    with DaphneServer(env, log_path=tmp / "daphne.log") as server:
        yield server


@pytest.fixture
def open_page(browser: Any, console_site: DaphneServer) -> Iterator[Any]:
    """open_page(user, path): a signed-in live page in a browser context of its own."""
    contexts: list[Any] = []

    def open_(user: str, path: str) -> Any:
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        page = context.new_page()
        browser_login(page, console_site.url, user)
        page.goto(console_site.url + path)
        page.locator(LIVE).wait_for(timeout=WAIT_MS)
        return page

    yield open_
    for context in contexts:
        context.close()


def publish(site: DaphneServer, channel: str, event: str, data: dict[str, Any]) -> None:
    admin = login(site.url, "admin")
    try:
        answer = admin.post("/api/sse/publish/", json={"channel": channel, "event": event, "data": data})
    finally:
        admin.close()
    assert answer.status_code == 201, answer.text


def tail_row(page: Any, channel: str, marker: str) -> Any:
    return page.locator(f'#tail-rows tr[data-channel="{channel}"]', has_text=marker)


@pytest.mark.browser
def test_tail_shows_events_published_while_watching_and_the_filter_hides_others(
    open_page: Any, console_site: DaphneServer
) -> None:
    console = open_page("admin", "/console/")
    console.fill("#tail-filter", "chat.room.*")
    marker = unique("tail")
    publish(console_site, "chat.room.lobby", "probe", {"marker": marker})
    publish(console_site, "broadcast", "probe", {"marker": marker})

    lobby = tail_row(console, "chat.room.lobby", marker)
    lobby.wait_for(state="visible", timeout=WAIT_MS)
    assert "probe" in lobby.inner_text()
    other = tail_row(console, "broadcast", marker)
    other.wait_for(state="attached", timeout=WAIT_MS)  # it came, and the filter hides it
    assert other.is_hidden()

    console.fill("#tail-filter", "")
    other.wait_for(state="visible", timeout=WAIT_MS)
    # The payload opens in full.
    lobby.locator("summary").click()
    lobby.locator("pre", has_text=marker).wait_for(state="visible", timeout=WAIT_MS)
    # When, as a <time datetime>.
    assert lobby.locator("time[datetime]").count() == 1


@pytest.mark.browser
def test_streams_table_lists_alice_and_disconnect_ends_her_stream(open_page: Any) -> None:
    alice = open_page("alice", "/notifications/")
    alice.evaluate("window.states = []; window.pageStream.onState((s) => window.states.push(s))")
    bob = open_page("bob", "/chat/lobby/")
    console = open_page("admin", "/console/")

    # One row for her page (the stream of the page she signed in on ends as she leaves it).
    console.wait_for_function(
        "document.querySelectorAll('#stream-rows tr[data-user=alice]').length === 1", timeout=WAIT_MS
    )
    console.locator("#stream-rows tr[data-user=bob]").first.wait_for(timeout=WAIT_MS)
    row = console.locator("#stream-rows tr[data-user=alice]")
    serial = row.get_attribute("data-serial")
    assert "notifications.user." in row.inner_text()

    row.locator("button", has_text="Disconnect").click()
    # Her page noticed the end, reconnected by itself, and the table shows the new stream.
    alice.wait_for_function(
        "window.states.includes('reconnecting') && window.pageStream.state === 'live'", timeout=WAIT_MS
    )
    console.wait_for_function(
        "old => { const rows = [...document.querySelectorAll('#stream-rows tr[data-user=alice]')];"
        " return rows.length === 1 && rows[0].dataset.serial !== old; }",
        arg=serial,
        timeout=WAIT_MS,
    )
    assert bob.locator(LIVE).count() == 1  # bob's stream was left alone


@pytest.mark.browser
def test_composer_sends_a_notification_to_alice_with_a_receipt(open_page: Any) -> None:
    alice = open_page("alice", "/notifications/")
    console = open_page("admin", "/console/")
    title = unique("console-note")

    console.check("input[name=kind][value=notification]")
    assert console.locator("#id_audience").is_hidden()  # a notification has no audience
    console.select_option("#id_users", label="alice")
    console.fill("#id_title", title)
    console.fill("#id_body", "from the console")
    console.click("#compose button[value=preview]")
    preview = console.locator("#compose-preview")
    preview.locator("p", has_text="Online: alice").wait_for(timeout=WAIT_MS)
    assert title in preview.inner_text()
    # Nothing went out on preview.
    assert alice.locator("#notification-list", has_text=title).count() == 0

    console.click("#compose button[value=send]")
    receipt = console.locator("#compose-receipt")
    receipt.locator("p", has_text="Online: alice").wait_for(timeout=WAIT_MS)
    reached = receipt.locator("p", has_text="Open streams reached:").inner_text()
    assert int(reached.split(":")[1].strip(" .")) >= 1
    alice.locator("#notification-list", has_text=title).wait_for(timeout=WAIT_MS)


# -- who may use it ------------------------------------------------------------


@pytest.fixture
def client_of(console_site: DaphneServer) -> Iterator[Any]:
    clients: list[httpx.Client] = []

    def make(user: str | None) -> httpx.Client:
        if user is None:
            client = httpx.Client(base_url=console_site.url, timeout=10)
        else:
            client = login(console_site.url, user)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_signed_out_is_sent_to_login(client_of: Any) -> None:
    answer = client_of(None).get("/console/")
    assert answer.status_code == 302
    assert answer.headers["location"].startswith("/accounts/login/?next=/console/")


@pytest.mark.parametrize("user", ["alice", "carol"])  # not staff; staff without use_console
def test_without_the_permission_the_console_is_refused(client_of: Any, user: str) -> None:
    client = client_of(user)
    assert client.get("/console/").status_code == 403
    disconnect = {"process": "x", "serial": "1"}
    assert client.post("/console/streams/disconnect/", data=disconnect).status_code == 403
    compose = {"kind": "notification", "title": "no", "users": ["1"], "level": "info", "action": "send"}
    assert client.post("/console/compose/", data=compose).status_code == 403
    # Nor can they read the console's channels.
    with client.stream("GET", "/sse/stream/?channel=console.streams") as stream:
        assert stream.status_code == 403


def test_disconnect_without_csrf_is_refused(client_of: Any) -> None:
    admin = client_of("admin")
    del admin.headers["X-CSRFToken"]
    answer = admin.post("/console/streams/disconnect/", data={"process": "x", "serial": "1"})
    assert answer.status_code == 403
    assert "CSRF" in answer.text


def test_admin_may_use_it(client_of: Any) -> None:
    admin = client_of("admin")
    assert admin.get("/console/").status_code == 200
    # A stream that is not there is said to be gone.
    answer = admin.post("/console/streams/disconnect/", data={"process": "elsewhere:1", "serial": "1"})
    assert answer.status_code == 404
    assert answer.json()["outcome"] == "gone"


# -- with REDIS_URL: two server processes ----------------------------------------


@pytest.fixture
def two_servers(redis: RedisServer, tmp_path: Path) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    env = project_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", SSE_HEARTBEAT_SECONDS="1", REDIS_URL=redis.url)
    prepare_database(env)
    first = DaphneServer(env, log_path=tmp_path / "first.log").start()
    second = DaphneServer(env, log_path=tmp_path / "second.log").start()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def process_label(server: DaphneServer) -> str:
    assert server.proc is not None
    return f"{socket.gethostname()}:{server.proc.pid}"


@pytest.mark.redis
def test_a_console_on_one_process_lists_and_disconnects_a_stream_on_another(
    two_servers: tuple[DaphneServer, DaphneServer],
) -> None:
    first, second = two_servers
    admin, alice = login(first.url, "admin"), login(second.url, "alice")
    try:
        with (
            open_events(admin, "/sse/stream/?channel=console.streams") as reports,
            open_events(alice, "/notifications/stream/") as alices,
        ):
            # The second process reports alice's stream to the console on the first.
            report, _ = reports.until(
                lambda e: (
                    e["data"]["process"] == process_label(second)
                    and any(s["user"] == "alice" for s in e["data"]["streams"])
                ),
                timeout=60,
            )
            row = next(s for s in report["data"]["streams"] if s["user"] == "alice")
            answer = admin.post(
                "/console/streams/disconnect/", data={"process": row["process"], "serial": row["serial"]}
            )
            assert answer.status_code == 200 and answer.json()["outcome"] == "sent"
            # The layer took it to the second process, which ended her stream.
            with pytest.raises(TimeoutError, match="the stream ended"):
                alices.until(lambda e: False, timeout=60)
    finally:
        admin.close()
        alice.close()
