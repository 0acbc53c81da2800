"""The operator console in headless Chromium against a real Daphne, with several users at once:
admin on /console/, alice and bob on their own live pages. The tail shows what is published
while watching, one line per event (the filters by channel and event, with ! to exclude, hide
the rest; the dashboard's metrics are hidden by default), with times to the millisecond and
the streams each event was delivered to, recorded as it happened; the streams list shows
alice's stream with its details and its Disconnect, with a reason, ends it (her page
reconnects; the operator is told, focus kept); the composer's receipt says whom a
notification reached. At 1280 and 375 px. Then who may use it at all, over plain HTTP."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import sse
from notifications.console import DELIVERY_WATCH_SECONDS, Deliveries
from sse.operator import StreamInfo
from tests.notifications.helpers import open_events
from tests.project.conftest import browser_login, login
from tests.servers import DaphneServer, RedisServer, manage, prepare_database, project_env

VIEWPORT = {"width": 1280, "height": 800}
WIDTHS = {"desktop": VIEWPORT, "phone": {"width": 375, "height": 812}}
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
    """open_page(user, path, viewport): a signed-in live page in a browser context of its own."""
    contexts: list[Any] = []

    def open_(user: str, path: str, viewport: dict[str, int] = VIEWPORT) -> Any:
        context = browser.new_context(viewport=viewport)
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
    return page.locator(f'#tail-rows li[data-channel="{channel}"]', has_text=marker)


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways: {width}"


@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
def test_tail_filters_by_channel_and_event_including_and_excluding(
    open_page: Any, console_site: DaphneServer, width: str
) -> None:
    console = open_page("admin", "/console/", WIDTHS[width])
    # The dashboard's figures are hidden by default, by a filter the operator can clear.
    assert console.input_value("#tail-channels") == "!dashboard"
    marker = unique("tail")
    long_payload = {"marker": marker, "blob": "x" * 600}
    publish(console_site, "chat.room.lobby", "probe", long_payload)
    publish(console_site, "broadcast", "other", {"marker": marker})
    publish(console_site, "dashboard", "metrics", {"marker": marker})

    lobby = tail_row(console, "chat.room.lobby", marker)
    lobby.wait_for(state="visible", timeout=WAIT_MS)
    broadcast = tail_row(console, "broadcast", marker)
    broadcast.wait_for(state="visible", timeout=WAIT_MS)
    dashboard = tail_row(console, "dashboard", marker)
    dashboard.wait_for(state="attached", timeout=WAIT_MS)  # it came, and the default filter hides it
    assert dashboard.is_hidden()
    console.locator("#tail-status", has_text="hidden by the filters").wait_for(timeout=WAIT_MS)

    # One line per event, however long its payload, and the page does not scroll sideways.
    summary = lobby.locator("summary")
    line_height = console.evaluate(
        "el => parseFloat(getComputedStyle(el).lineHeight)", summary.element_handle()
    )
    box = summary.bounding_box()
    assert box is not None and box["height"] < 2 * line_height, (box, line_height)
    no_sideways_scroll(console)
    # Its time to the millisecond.
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", lobby.locator(".console-when").inner_text().strip())

    # Include by channel pattern.
    console.fill("#tail-channels", "chat.room.*")
    broadcast.wait_for(state="hidden", timeout=WAIT_MS)
    assert lobby.is_visible() and dashboard.is_hidden()
    # Cleared: everything, the dashboard's too.
    console.fill("#tail-channels", "")
    dashboard.wait_for(state="visible", timeout=WAIT_MS)
    # Exclude by event name; then include by event name.
    console.fill("#tail-events", "!probe")
    lobby.wait_for(state="hidden", timeout=WAIT_MS)
    assert broadcast.is_visible()
    console.fill("#tail-events", "probe")
    broadcast.wait_for(state="hidden", timeout=WAIT_MS)
    assert lobby.is_visible() and dashboard.is_hidden()

    # The line opens to its whole payload, its absolute time (with the year, to the ms) and id.
    summary.click()
    lobby.locator("pre", has_text=marker).wait_for(state="visible", timeout=WAIT_MS)
    at = lobby.locator(".console-at").inner_text()
    assert re.search(r"\d{4}", at) and re.search(r"\d\d:\d\d:\d\d\.\d{3}", at), at
    assert lobby.locator(".console-id").inner_text().strip()
    no_sideways_scroll(console)


@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
def test_deliveries_are_recorded_as_they_happen(
    open_page: Any, console_site: DaphneServer, width: str
) -> None:
    """Delivered to alice's stream stays said after she has gone (not recomputed from the
    streams open now); an event nobody was listening to says no stream."""
    console = open_page("admin", "/console/", WIDTHS[width])
    alice = open_page("alice", "/notifications/")
    console.locator("#stream-rows li[data-user=alice]").first.wait_for(timeout=WAIT_MS)
    marker = unique("delivered")
    admin = login(console_site.url, "admin")
    try:
        answer = admin.post("/api/notifications/", json={"user": "alice", "title": marker, "body": ""})
        assert answer.status_code == 201, answer.text
    finally:
        admin.close()
    alice.locator("#notification-list", has_text=marker).wait_for(timeout=WAIT_MS)
    publish(console_site, "chat.room.nobody-here", "probe", {"marker": marker})

    line = console.locator("#tail-rows li[data-channel^='notifications.user.']", has_text=marker)
    line.wait_for(state="visible", timeout=WAIT_MS)
    line.locator(".console-delivered", has_text="alice").wait_for(state="attached", timeout=WAIT_MS)
    # (Her home page's stream may still have been open as the event went out: then "→ 2".)
    assert line.locator(".console-delivered-count").inner_text().strip() in ("→ 1", "→ 2")

    # She leaves; the console sees her stream go, and still says the event reached her.
    alice.close()
    console.wait_for_function(
        "document.querySelectorAll('#stream-rows li[data-user=alice]').length === 0", timeout=WAIT_MS
    )
    line.locator("summary").click()
    assert "alice" in line.locator(".console-delivered").inner_text()

    nobody = tail_row(console, "chat.room.nobody-here", marker)
    nobody.wait_for(state="visible", timeout=WAIT_MS)
    assert nobody.locator(".console-delivered-count").inner_text().strip() == "→ 0"
    no_sideways_scroll(console)


@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
def test_streams_list_details_and_disconnect_with_a_reason(open_page: Any, width: str) -> None:
    alice = open_page("alice", "/notifications/")
    alice.evaluate("window.states = []; window.pageStream.onState((s) => window.states.push(s))")
    bob = open_page("bob", "/chat/lobby/")
    console = open_page("admin", "/console/", WIDTHS[width])

    # One row for her page (the stream of the page she signed in on ends as she leaves it).
    console.wait_for_function(
        "document.querySelectorAll('#stream-rows li[data-user=alice]').length === 1", timeout=WAIT_MS
    )
    console.locator("#stream-rows li[data-user=bob]").first.wait_for(timeout=WAIT_MS)
    row = console.locator("#stream-rows li[data-user=alice]")
    serial = row.get_attribute("data-serial")
    text = row.inner_text()
    assert "notifications.user." in text
    # Per-connection details: transport, user agent, since (absolute and relative), bytes, last id.
    assert "HTTP/1.1" in text
    assert "Chrome" in row.locator(".console-agent").inner_text()
    since = row.locator(".console-since").inner_text()
    assert re.search(r"\d\d:\d\d:\d\d\.\d{3}", since) and "ago" in since, since
    assert "bytes sent" in text
    assert ":" in row.locator(".console-id").inner_text()  # an event id, channel tag and positions
    no_sideways_scroll(console)

    row.locator("button", has_text="Disconnect").click()
    dialog = console.locator("#disconnect-dialog")
    dialog.wait_for(state="visible", timeout=WAIT_MS)
    assert "alice" in dialog.inner_text()
    console.fill("#disconnect-reason", "testing the reconnect")
    dialog.get_by_role("button", name="Disconnect").click()
    # The operator is told what happened, with the reason, and focus is on that news.
    status = console.locator("#disconnect-status")
    status.wait_for(state="visible", timeout=WAIT_MS)
    # It says "Disconnecting ..." while the request is on its way, then what was done.
    console.wait_for_function(
        "document.getElementById('disconnect-status').innerText.includes(\"Disconnected alice's stream\")",
        timeout=WAIT_MS,
    )
    assert "testing the reconnect" in status.inner_text()
    console.wait_for_function(
        "document.activeElement && document.activeElement.id === 'disconnect-status'", timeout=WAIT_MS
    )
    # Her page noticed the end, reconnected by itself, and the list shows the new stream.
    alice.wait_for_function(
        "window.states.includes('reconnecting') && window.pageStream.state === 'live'", timeout=WAIT_MS
    )
    console.wait_for_function(
        "old => { const rows = [...document.querySelectorAll('#stream-rows li[data-user=alice]')];"
        " return rows.length === 1 && rows[0].dataset.serial !== old; }",
        arg=serial,
        timeout=WAIT_MS,
    )
    assert bob.locator(LIVE).count() == 1  # bob's stream was left alone
    # Focus is still on the page's news, not dropped to <body> by the redrawn list.
    assert console.evaluate("document.activeElement.id") == "disconnect-status"


@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
def test_cancelling_a_disconnect_ends_nothing_and_returns_focus(open_page: Any, width: str) -> None:
    alice = open_page("alice", "/notifications/")
    console = open_page("admin", "/console/", WIDTHS[width])
    console.wait_for_function(
        "document.querySelectorAll('#stream-rows li[data-user=alice]').length === 1", timeout=WAIT_MS
    )
    row = console.locator("#stream-rows li[data-user=alice]")
    serial = row.get_attribute("data-serial")
    row.locator("button", has_text="Disconnect").click()
    dialog = console.locator("#disconnect-dialog")
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="hidden", timeout=WAIT_MS)
    console.wait_for_function(
        "s => document.activeElement && document.activeElement.closest('li')"
        " && document.activeElement.closest('li').dataset.serial === s",
        arg=serial,
        timeout=WAIT_MS,
    )
    assert console.locator("#disconnect-status").is_hidden()
    assert alice.locator(LIVE).count() == 1


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
    gone = {"process": "elsewhere:1", "serial": "1", "reason": " why " + "x" * 300}
    answer = admin.post("/console/streams/disconnect/", data=gone)
    assert answer.status_code == 404
    assert answer.json()["outcome"] == "gone"
    assert answer.json()["reason"] == "why " + "x" * 196  # trimmed, cut at 200 characters


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


# -- deliveries, recorded as they happen (no server) -------------------------------


def stream_info(serial: int, seq: int, opened_at: float, channel: str = "chat.room.lobby") -> StreamInfo:
    at = {channel: seq, "broadcast": 0}
    return StreamInfo(
        serial=serial,
        user_key="1",
        channels=tuple(sorted(at)),
        opened_at=opened_at,
        bytes_sent=0,
        queued=0,
        waiting=0.0,
        last_event_id=sse.event_id(at),
        user_agent="",
        transport="",
    )


def test_deliveries_count_streams_that_had_the_event_not_the_ones_open_later() -> None:
    created = 1_000_000.0
    row = {"row": 7, "channel": "chat.room.lobby", "seq": 5, "created": "1970-01-12T13:46:40.000+00:00"}
    deliveries = Deliveries()
    deliveries.watch([row], now=0.0)
    early = stream_info(1, 5, created - 10)  # open before it went out, and past it: had it
    late_at_head = stream_info(2, 5, created + 1)  # opened after, at the head: never had it
    late_behind = stream_info(3, 3, created + 1)  # opened after, behind it: its replay will send it
    elsewhere = stream_info(4, 9, created - 10, channel="chat.room.other")
    found = deliveries.check([early, late_at_head, late_behind, elsewhere], now=1.0)
    assert {r: [s.serial for s in streams] for r, streams in found.items()} == {7: [1]}

    # The replay caught up: now it had it too; the others are not counted again.
    caught_up = stream_info(3, 6, created + 1)
    found = deliveries.check([early, late_at_head, caught_up], now=2.0)
    assert {r: [s.serial for s in streams] for r, streams in found.items()} == {7: [3]}

    # Watched for a while only.
    assert deliveries.check([], now=2.0 + DELIVERY_WATCH_SECONDS) == {}
    assert deliveries.watched == {}
