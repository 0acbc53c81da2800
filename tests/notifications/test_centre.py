"""The notification centre in headless Chromium against a real Daphne: toasts and the tab
title's unread count on pages other than the list, and broadcasts dismissed per user (one
browser's dismissal holds in another), stacked, and kept in the notifications list."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.notifications.helpers import shell
from tests.project.conftest import browser_login
from tests.servers import DaphneServer

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1100, "height": 720}
LIVE = "#live-state[data-state=live]"
TITLE_COUNT = re.compile(r"^\((\d+)\) ")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def contexts(browser: Any) -> Iterator[Any]:
    """new_context(viewport): browser contexts (each its own cookies), closed after the test."""
    made: list[Any] = []

    def new_context(viewport: dict[str, int] = DESKTOP) -> Any:
        context = browser.new_context(viewport=viewport)
        made.append(context)
        return context

    yield new_context
    for context in made:
        context.close()


def signed_in_page(context: Any, site: DaphneServer, user: str, path: str) -> Any:
    page = context.new_page()
    if not context.cookies():
        browser_login(page, site.url, user)
    page.goto(site.url + path)
    page.locator(LIVE).wait_for(timeout=30000)
    return page


def notify(admin: httpx.Client, title: str, **extra: object) -> dict[str, Any]:
    answer = admin.post("/api/notifications/", json={"user": "alice", "title": title, **extra})
    assert answer.status_code == 201, answer.text
    return answer.json()


def wait_title(page: Any, expected: str) -> None:
    page.wait_for_function("t => document.title === t", arg=expected, timeout=30000)


def toast(page: Any, title: str) -> Any:
    return page.locator("#toasts .toast", has_text=title)


def test_toasts_and_tab_title_on_other_pages(
    contexts: Any, site: DaphneServer, admin: httpx.Client, alice: httpx.Client, docs_dir: Path
) -> None:
    assert alice.post("/api/notifications/read-all/").status_code == 200
    context = contexts(PHONE)
    chat = signed_in_page(context, site, "alice", "/chat/lobby/")
    listing = signed_in_page(context, site, "alice", "/notifications/")
    # No "(0)": the title carries no count while nothing is unread.
    plain = chat.title()
    assert not TITLE_COUNT.match(plain), plain
    # Long enough that the checks below never race the auto-hide.
    chat.evaluate("document.getElementById('toasts').dataset.seconds = '600'")

    first = unique("Build finished")
    created = notify(admin, first, body="All 214 tests passed.", level="success", url="/jobs/")
    item = toast(chat, first)
    item.wait_for(timeout=30000)
    wait_title(chat, f"(1) {plain}")
    assert item.locator(".toast-title a").get_attribute("href") == "/jobs/"
    assert "All 214 tests passed." in item.inner_text()
    close = item.get_by_role("button", name=f"Dismiss notification: {first}")
    assert close.count() == 1
    live_region = chat.locator("#toasts")
    assert live_region.get_attribute("aria-live") == "polite"
    assert live_region.get_attribute("role") == "status"
    # The list page shows it in its list instead, without a toast.
    listing.locator("#notification-list .notification", has_text=first).wait_for(timeout=30000)
    assert listing.locator("#toasts .toast").count() == 0

    # Newest on top; without a url the toast links the list; at most three at once.
    titles = [unique(f"Note {i}") for i in range(3)]
    for i, title in enumerate(titles):
        notify(admin, title)
        toast(chat, title).wait_for(timeout=30000)
        wait_title(chat, f"({i + 2}) {plain}")
    shown = chat.locator("#toasts .toast .toast-title").all_inner_texts()
    assert shown == list(reversed(titles)), shown
    assert toast(chat, titles[-1]).locator("a").get_attribute("href") == "/notifications/"
    chat.screenshot(path=str(docs_dir / "toasts-375.png"))
    # It fits a 375 px screen.
    for box in (t.bounding_box() for t in chat.locator("#toasts .toast").all()):
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box

    # Closed from the keyboard, focus moves to the next toast's close button (not to <body>).
    top = toast(chat, titles[-1])
    top.get_by_role("button", name=f"Dismiss notification: {titles[-1]}").focus()
    chat.keyboard.press("Enter")
    top.wait_for(state="detached", timeout=30000)
    focused = chat.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == f"Dismiss notification: {titles[-2]}"

    # Read elsewhere (alice's API client): the `unread` event brings the count down.
    assert alice.post(f"/api/notifications/{created['id']}/read/").status_code == 200
    wait_title(chat, f"(3) {plain}")
    assert alice.post("/api/notifications/read-all/").status_code == 200
    wait_title(chat, plain)
    listing.wait_for_function("!/^\\(\\d+\\) /.test(document.title)", timeout=30000)


def test_toast_hides_by_itself(contexts: Any, site: DaphneServer, admin: httpx.Client) -> None:
    context = contexts()
    context.clock.install()  # the page's timers on Playwright's clock, jumped past the 1 s below
    page = signed_in_page(context, site, "alice", "/jobs/")
    # Records every toast that appears, so a short-lived one cannot slip between two polls.
    page.evaluate(
        """() => {
          window.seenToasts = [];
          const toasts = document.getElementById("toasts");
          toasts.dataset.seconds = "1";
          new MutationObserver((records) => {
            for (const r of records) for (const n of r.addedNodes) window.seenToasts.push(n.textContent);
          }).observe(toasts, {childList: true});
        }"""
    )
    title = unique("Short-lived")
    notify(admin, title)
    page.wait_for_function("t => window.seenToasts.some((s) => s.includes(t))", arg=title, timeout=60000)
    page.clock.fast_forward(1000)
    page.wait_for_function(
        "t => ![...document.querySelectorAll('#toasts .toast')].some((el) => el.textContent.includes(t))",
        arg=title,
        timeout=60000,
    )


def send_broadcast(site: DaphneServer, title: str, **fields: object) -> int:
    """A broadcast to everyone, sent as the admin does (saved, then pushed); returns its id."""
    code = (
        "from notifications.models import Broadcast\n"
        "from notifications.services import send_broadcast\n"
        f"b = Broadcast.objects.create(title={title!r}, body='Read me', **{fields!r})\n"
        "send_broadcast(b)\n"
        "print(b.pk)\n"
    )
    return int(shell(site.env, code).strip().splitlines()[-1])


def delete_broadcasts(site: DaphneServer, titles: list[str]) -> None:
    shell(
        site.env,
        "from notifications.models import Broadcast\n"
        f"Broadcast.objects.filter(title__in={titles!r}).delete()\n",
    )


def banner(page: Any, title: str) -> Any:
    return page.locator("#broadcast-banners .banner", has_text=title)


def test_broadcast_dismissal_follows_the_user_to_another_browser(
    contexts: Any, site: DaphneServer, alice: httpx.Client
) -> None:
    laptop = signed_in_page(contexts(), site, "alice", "/")
    other_tab = signed_in_page(laptop.context, site, "alice", "/jobs/")
    phone = signed_in_page(contexts(PHONE), site, "alice", "/jobs/")

    title = unique("Maintenance tonight")
    pk = send_broadcast(site, title, level="warning")
    try:
        for page in (laptop, other_tab, phone):
            banner(page, title).wait_for(timeout=30000)

        # The close button names what it closes.
        close = banner(laptop, title).get_by_role("button", name=f"Dismiss broadcast: {title}")
        with laptop.expect_response(lambda r: r.url.endswith(f"/broadcasts/{pk}/dismiss/")) as answer:
            close.click()
        assert answer.value.status == 200
        assert banner(laptop, title).count() == 0
        # Another tab of the same browser follows at once.
        banner(other_tab, title).wait_for(state="detached", timeout=30000)

        # The other browser (its own cookies, nothing shared but the user) hides it on its next load.
        assert banner(phone, title).count() == 1
        phone.reload()
        phone.locator(LIVE).wait_for(timeout=30000)
        assert banner(phone, title).count() == 0
        laptop.reload()
        laptop.locator(LIVE).wait_for(timeout=30000)
        assert banner(laptop, title).count() == 0

        # Still in the list, marked as a broadcast, and in the API as dismissed.
        listing = signed_in_page(laptop.context, site, "alice", "/notifications/")
        entry = listing.locator("#notification-list .notif-broadcast", has_text=title)
        assert entry.count() == 1
        assert entry.locator(".notif-kind").text_content() == "Broadcast"
        rows = {row["id"]: row for row in alice.get("/api/notifications/broadcasts/").json()["results"]}
        assert rows[pk]["dismissed"] is True and rows[pk]["kind"] == "broadcast"
    finally:
        delete_broadcasts(site, [title])  # a warning for everyone would top the other tests' banners


def test_banners_show_one_and_the_rest_behind_more(contexts: Any, site: DaphneServer) -> None:
    titles = [unique(f"Notice {i}") for i in range(3)]
    for title in titles:
        send_broadcast(site, title)
    context = contexts(PHONE)
    # The page's timers run on Playwright's clock: its 30 s expiry check is jumped to below.
    context.clock.install()
    page = signed_in_page(context, site, "bob", "/")
    banners = page.locator("#broadcast-banners .banner")
    total = banners.count()
    assert total >= 3
    # The most severe first (issue 28), then the newest; one shown, the rest counted on "more".
    assert banners.first.inner_text().startswith(titles[-1])
    assert page.locator("#broadcast-banners .banner:visible").count() == 1
    more = page.locator("#broadcast-banners .banner-more")
    assert more.inner_text() == f"{total - 1} more"
    assert more.get_attribute("aria-expanded") == "false"
    more.click()
    page.wait_for_function(
        "n => document.querySelectorAll('#broadcast-banners .banner:not([hidden])').length === n",
        arg=total,
        timeout=30000,
    )
    assert more.get_attribute("aria-expanded") == "true"

    # A broadcast arriving live goes on top of the stack, which stays tidy once collapsed.
    more.click()
    live = unique("Live notice")
    send_broadcast(site, live)
    banner(page, live).wait_for(timeout=30000)
    assert banners.first.inner_text().startswith(live)
    assert page.locator("#broadcast-banners .banner:visible").count() == 1
    assert more.inner_text() == f"{total} more"
    for box in (b.bounding_box() for b in page.locator("#broadcast-banners .banner:visible").all()):
        assert box is not None and box["x"] + box["width"] <= PHONE["width"], box

    # A page left open past a banner's expiry drops it (the expiry moved into the past here).
    oldest = banner(page, titles[0])
    assert oldest.get_attribute("data-expires")
    oldest.evaluate("el => { el.dataset.expires = new Date(Date.now() - 1000).toISOString(); }")
    assert oldest.count() == 1
    # The page checks every 30 s: 30 s on from now, the check has run (at least) once.
    page.clock.fast_forward(30_000)
    oldest.wait_for(state="detached", timeout=30000)
    assert more.inner_text() == f"{total - 1} more"


def test_mark_read_keeps_focus_in_the_list(
    contexts: Any, site: DaphneServer, admin: httpx.Client, alice: httpx.Client
) -> None:
    assert alice.post("/api/notifications/read-all/").status_code == 200
    older, newer = unique("older"), unique("newer")
    notify(admin, older)
    notify(admin, newer)
    page = signed_in_page(contexts(), site, "alice", "/notifications/")
    first = page.locator("#notification-list .notification", has_text=newer)
    first.get_by_role("button", name=f"Mark read: {newer}").click()
    first.locator(".mark-read").wait_for(state="detached", timeout=30000)
    # Focus went to the next unread item's button.
    page.wait_for_function(
        "t => document.activeElement.getAttribute('aria-label') === 'Mark read: ' + t",
        arg=older,
        timeout=30000,
    )
    page.keyboard.press("Enter")
    page.locator("#notification-list .notification", has_text=older).locator(".mark-read").wait_for(
        state="detached", timeout=30000
    )
    # The last one gone: the list itself holds focus.
    page.wait_for_function("document.activeElement.id === 'notification-list'", timeout=30000)
