"""Issue 28 items 1, 4, 7 and 8 in headless Chromium at 1280 and 375 px: one compact banner
(the most severe first), toasts that wait for the reader, a page that says it was signed out,
"Retry now" while reconnecting, the home page's private rooms, a favicon, and the admin in
the viewer's time zone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.notifications.helpers import shell
from tests.notifications.test_centre import banner, delete_broadcasts, notify, toast, unique
from tests.project.conftest import browser_login
from tests.servers import DaphneServer

pytestmark = pytest.mark.browser

WIDTHS = {"1280": {"width": 1280, "height": 800}, "375": {"width": 375, "height": 740}}
ZONE = "America/New_York"
LIVE = "#live-state[data-state=live]"
STREAM = re.compile(r"/sse/stream/")


@pytest.fixture
def new_context(browser: Any) -> Iterator[Any]:
    made: list[Any] = []

    def make(viewport: dict[str, int], **options: Any) -> Any:
        context = browser.new_context(viewport=viewport, timezone_id=ZONE, **options)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


def open_page(context: Any, site: DaphneServer, user: str, path: str) -> Any:
    page = context.new_page()
    browser_login(page, site.url, user)
    page.goto(site.url + path)
    page.locator(LIVE).wait_for(timeout=30000)
    return page


def fresh_user(site: DaphneServer) -> str:
    """A user of this test alone: its banners are the ones this test sends it."""
    name = unique("reader")
    shell(
        site.env,
        "from django.contrib.auth import get_user_model\n"
        f"get_user_model().objects.create_user({name!r}, password='demo')\n",
    )
    return name


def broadcast_to(site: DaphneServer, user: str, title: str, level: str) -> None:
    shell(
        site.env,
        "from django.contrib.auth import get_user_model\n"
        "from notifications.models import Broadcast\n"
        "from notifications.services import send_broadcast\n"
        f"b = Broadcast.objects.create(title={title!r}, body='Read me', level={level!r}, audience='users')\n"
        f"b.users.add(get_user_model().objects.get(username={user!r}))\n"
        "send_broadcast(b)\n",
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_one_compact_banner_the_most_severe_first(
    new_context: Any, site: DaphneServer, docs_dir: Path, width: str
) -> None:
    viewport = WIDTHS[width]
    warning, notice, later = unique("Maintenance tonight"), unique("New feature"), unique("Later notice")
    reader = fresh_user(site)
    try:
        broadcast_to(site, reader, warning, "warning")
        broadcast_to(site, reader, notice, "info")  # newer, but less severe
        page = open_page(new_context(viewport), site, reader, "/")
        visible = page.locator("#broadcast-banners .banner:visible")
        assert visible.count() == 1
        # The warning is above the later notice (and shown, unless a more severe one is).
        order = page.evaluate(
            "([a, b]) => { const t = [...document.querySelectorAll('#broadcast-banners .banner')]"
            ".map(e => e.textContent);"
            " return [t.findIndex(x => x.includes(a)), t.findIndex(x => x.includes(b))]; }",
            [warning, notice],
        )
        assert 0 <= order[0] < order[1], order
        # A live info broadcast does not push the warning down either.
        broadcast_to(site, reader, later, "info")
        banner(page, later).wait_for(state="attached", timeout=30000)
        assert page.locator("#broadcast-banners .banner:visible").count() == 1
        ranks = page.evaluate(
            "[...document.querySelectorAll('#broadcast-banners .banner')].map(e =>"
            " e.classList.contains('level-error') ? 0 : e.classList.contains('level-warning') ? 1 : 2)"
        )
        assert ranks == sorted(ranks), ranks
        # Compact: the banners take a small part of the first screen, the page starts on it.
        box = page.locator("#broadcast-banners").bounding_box()
        assert box is not None and box["height"] <= 0.12 * viewport["height"], box
        heading = page.locator("main h1").bounding_box()
        assert heading is not None and heading["y"] + heading["height"] <= 0.45 * viewport["height"], heading
        page.screenshot(path=str(docs_dir / f"banners-{width}.png"))
    finally:
        delete_broadcasts(site, [warning, notice, later])


@pytest.mark.parametrize("width", WIDTHS)
def test_toasts_wait_for_the_reader_and_are_reached_at_once(
    new_context: Any, site: DaphneServer, admin: httpx.Client, width: str
) -> None:
    context = new_context(WIDTHS[width])
    context.clock.install()
    page = open_page(context, site, "alice", "/chat/lobby/")
    info, error = unique("Info toast"), unique("Error toast")
    notify(admin, info)
    notify(admin, error, level="error")
    toast(page, info).wait_for(timeout=30000)
    toast(page, error).wait_for(timeout=30000)
    # From the top of the page: the skip link, then the toasts' links and close buttons.
    page.locator(".skip-link").focus()
    for _ in range(2):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('toast-close')"):
            break
    assert page.evaluate("document.activeElement.classList.contains('toast-close')")
    # Focused, nothing goes (a minute on the page's clock).
    page.clock.fast_forward(60_000)
    assert toast(page, info).count() == 1 and toast(page, error).count() == 1
    # Unfocused, the info toast goes after a while; the error stays until it is closed.
    page.evaluate("document.activeElement.blur()")
    page.mouse.move(1, 1)
    page.clock.fast_forward(30_000)
    toast(page, info).wait_for(state="detached", timeout=30000)
    page.clock.fast_forward(300_000)
    assert toast(page, error).count() == 1
    toast(page, error).locator(".toast-close").click()
    toast(page, error).wait_for(state="detached", timeout=30000)


@pytest.mark.parametrize("width", WIDTHS)
def test_signed_out_elsewhere_the_page_says_so(new_context: Any, site: DaphneServer, width: str) -> None:
    context = new_context(WIDTHS[width])
    page = open_page(context, site, "bob", "/jobs/")
    other = context.new_page()
    other.goto(site.url + "/notifications/")
    other.locator("form[action='/accounts/logout/'] button").click()
    other.wait_for_load_state()
    page.locator("#session-ended").wait_for(timeout=60000)
    assert page.locator("#live-state").inner_text() == "signed out"
    assert page.locator(".topbar .who").is_hidden()
    assert page.locator(".topbar .account form").is_hidden()
    assert page.evaluate("document.querySelector('main').inert")
    link = page.locator("#session-ended a", has_text="Sign in again")
    assert link.get_attribute("href") == "/accounts/login/?next=/jobs/"
    box = page.locator("#session-ended").bounding_box()
    assert box is not None and box["y"] < WIDTHS[width]["height"]


@pytest.mark.parametrize("width", WIDTHS)
def test_reconnecting_offers_retry_now(new_context: Any, site: DaphneServer, width: str) -> None:
    context = new_context(WIDTHS[width])
    page = open_page(context, site, "alice", "/")
    # The server "goes away": every new stream request fails, and the open one is cut.
    context.route(STREAM, lambda route: route.abort())
    page.evaluate("window.pageStream.stop(); window.pageStream.start()")
    page.locator("#live-state[data-state=reconnecting]").wait_for(timeout=30000)
    note = page.locator("#reconnect-note")
    note.wait_for(state="visible", timeout=30000)
    # The note counts down to the next attempt, which sse.js says (stream.retryAt).
    page.wait_for_function(
        "window.pageStream.retryAt !== null"
        " && /^Next try in \\d+ s\\.$/.test(document.getElementById('reconnect-countdown').textContent)",
        timeout=30000,
    )
    context.unroute(STREAM)
    # "Retry now" starts that attempt at once: no attempt is waiting any more, the note says so.
    waiting, text = page.evaluate(
        "() => { document.getElementById('retry-now').click();"
        " return [window.pageStream.retryAt, document.getElementById('reconnect-countdown').textContent]; }"
    )
    assert waiting is None and text == "Trying now…", (waiting, text)
    page.locator(LIVE).wait_for(timeout=30000)
    note.wait_for(state="hidden", timeout=30000)


@pytest.mark.parametrize("width", WIDTHS)
def test_chat_send_waits_while_reconnecting_and_keeps_the_text(
    new_context: Any, site: DaphneServer, width: str
) -> None:
    context = new_context(WIDTHS[width])
    page = open_page(context, site, "alice", "/chat/lobby/")
    send = page.locator("#chat-form button[type=submit]")
    assert send.is_enabled()
    context.route(STREAM, lambda route: route.abort())
    page.evaluate("window.pageStream.stop(); window.pageStream.start()")
    page.locator("#live-state[data-state=reconnecting]").wait_for(timeout=30000)
    page.locator("#chat-offline").wait_for(state="visible", timeout=30000)
    assert send.is_disabled()
    text = unique("typed while away")
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")  # Enter does not send either
    assert page.locator("#chat-messages li", has_text=text).count() == 0
    context.unroute(STREAM)
    page.evaluate("window.pageStream.reconnectNow()")  # as "Retry now" does (no-op mid-attempt)
    page.locator(LIVE).wait_for(timeout=30000)
    page.locator("#chat-offline").wait_for(state="hidden", timeout=30000)
    assert send.is_enabled()
    assert page.input_value("#chat-input") == text
    send.click()
    page.locator("#chat-messages li", has_text=text).wait_for(timeout=30000)


@pytest.mark.parametrize("width", WIDTHS)
def test_home_links_private_rooms_to_their_members_only_and_has_a_favicon(
    new_context: Any, site: DaphneServer, width: str
) -> None:
    bob = open_page(new_context(WIDTHS[width]), site, "bob", "/")
    assert bob.locator("main a[href='/chat/staff/']").count() == 0
    assert bob.locator("main a[href='/chat/lobby/']").count() >= 1
    alice = open_page(new_context(WIDTHS[width]), site, "alice", "/")
    assert alice.locator("main a[href='/chat/staff/']").count() == 1
    icon = alice.locator("link[rel=icon]").get_attribute("href")
    assert icon
    answer = alice.request.get(site.url + icon)
    assert answer.status == 200 and answer.headers["content-type"].startswith("image/svg+xml")


@pytest.mark.parametrize("width", WIDTHS)
def test_admin_in_the_viewers_time_zone(new_context: Any, site: DaphneServer, width: str) -> None:
    page = open_page(new_context(WIDTHS[width]), site, "admin", "/")
    page.goto(site.url + "/admin/notifications/broadcast/add/")
    offset = int(datetime.now(ZoneInfo(ZONE)).utcoffset().total_seconds())  # type: ignore[union-attr]
    assert page.locator("body").get_attribute("data-admin-utc-offset") == str(offset)
    assert ZONE in page.locator(".field-expires_at").inner_text()
    title = unique("Zone check")
    try:
        page.fill("#id_title", title)
        page.fill("#id_body", "entered at 9:00 in New York")
        page.fill("#id_expires_at_0", "2030-01-15")
        page.fill("#id_expires_at_1", "09:00:00")
        page.locator("input[name=_save]").click()
        page.wait_for_url("**/admin/notifications/broadcast/", timeout=30000)
        stored = shell(
            site.env,
            "from notifications.models import Broadcast\n"
            f"print(Broadcast.objects.get(title={title!r}).expires_at.isoformat())\n",
        )
        assert stored.strip().splitlines()[-1] == "2030-01-15T14:00:00+00:00"
        # The list shows it as entered: 9 a.m., not 2 p.m.
        row = page.locator("#result_list tr", has_text=title)
        assert "9 a.m." in row.inner_text(), row.inner_text()
    finally:
        delete_broadcasts(site, [title])
