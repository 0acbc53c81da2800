"""The notification centre as a product (issue 28, item 6), in headless Chromium against a real
Daphne at 1280 and 375 px: it pages through everything the API holds (the badge, the Unread
count and the entries agree), Unread/All, day headings, per-item and bulk "Mark read", read and
unread told apart by more than a tint, no "Open" link to the page itself, and one button style
on every page."""

from __future__ import annotations

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

WIDTHS = [1280, 375]
LIVE = "#live-state[data-state=live]"
WAIT = 30000


def make_user(site: DaphneServer, unread: int, read: int, *, days_ago: int = 2) -> str:
    """A new user (password "demo") with ``unread`` unread notifications ("u0" newest, half of
    them today, half ``days_ago`` days back) and ``read`` read ones from ``days_ago`` days back."""
    name = f"centre{uuid.uuid4().hex[:8]}"
    code = f"""
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from notifications.models import Notification
user = get_user_model().objects.create_user({name!r}, password="demo")
now = timezone.now()
rows = []
for n in range({unread}):
    back = timedelta(seconds=n) if n < {unread} // 2 else timedelta(days={days_ago}, minutes=n)
    rows.append(Notification(recipient=user, title=f"u{{n}}", created=now - back))
for n in range({read}):
    rows.append(Notification(recipient=user, title=f"r{{n}}", read_at=now,
                             created=now - timedelta(days={days_ago}, hours=3, minutes=n)))
Notification.objects.bulk_create(rows)
"""
    shell(site.env, code)
    return name


@pytest.fixture
def open_page(browser: Any, site: DaphneServer) -> Iterator[Any]:
    """open_page(user, path, width): a signed-in page in a context of its own."""
    contexts: list[Any] = []

    def open_(user: str, path: str, width: int) -> Any:
        context = browser.new_context(viewport={"width": width, "height": 800})
        contexts.append(context)
        page = context.new_page()
        browser_login(page, site.url, user)
        page.goto(site.url + path)
        page.locator(LIVE).wait_for(timeout=WAIT)
        return page

    yield open_
    for context in contexts:
        context.close()


def wait_badge(page: Any, count: int) -> None:
    page.wait_for_function(
        "n => document.getElementById('unread-badge').dataset.count === n", arg=str(count), timeout=WAIT
    )


def titles(page: Any) -> list[str]:
    return page.locator("#notification-list .notification .n-title").all_inner_texts()  # type: ignore[no-any-return]


def follow_older(page: Any) -> list[str]:
    """Every title from this page on, following the "Older" links to the end."""
    seen = titles(page)
    while page.locator("#n-pager a[rel=next]").count():
        page.locator("#n-pager a[rel=next]").click()
        page.locator(LIVE).wait_for(timeout=WAIT)
        page.locator("#n-pager a", has_text="Newest").wait_for(timeout=WAIT)
        seen += titles(page)
    return seen


@pytest.mark.parametrize("width", WIDTHS)
def test_the_centre_pages_through_everything_with_unread_all_and_days(
    open_page: Any, site: DaphneServer, width: int, docs_dir: Path
) -> None:
    user = make_user(site, unread=61, read=9)
    page = open_page(user, "/notifications/?show=unread", width)
    badge = int(page.locator("#unread-badge").get_attribute("data-count"))
    assert badge == 61
    assert page.locator('#n-filter [data-count="unread"]').inner_text() == "61"
    assert page.locator('#n-filter [data-count="total"]').inner_text() == "70"
    assert page.locator("#n-filter a[aria-current=page]").inner_text().startswith("Unread")
    # Day headings in the reader's zone: today's half first, then the one of two days back.
    headings = page.locator("#notification-list > .n-day h2").all_inner_texts()
    assert headings[0] == "Today" and len(headings) == 2, headings
    page.screenshot(path=str(docs_dir / f"notification-centre-{width}.png"))
    unread = follow_older(page)
    assert len(unread) == 61 == len(set(unread)), len(unread)
    assert unread == [f"u{n}" for n in range(61)]
    # All: the read ones too, newest first, and every page has its day headings.
    page.locator("#n-pager a", has_text="Newest").click()
    page.locator("#n-filter a", has_text="All").click()
    page.locator("#n-filter a[aria-current=page]", has_text="All").wait_for(timeout=WAIT)
    everything = follow_older(page)
    assert len(everything) == 70 == len(set(everything))
    assert everything[-9:] == [f"r{n}" for n in range(9)]
    assert page.locator("#notification-list > .n-day").count() >= 1
    # Nothing reaches past the right edge.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", WIDTHS)
def test_mark_read_one_and_in_bulk_and_read_looks_read(
    open_page: Any, site: DaphneServer, width: int
) -> None:
    user = make_user(site, unread=6, read=1)
    page = open_page(user, "/notifications/", width)
    item = page.locator("#notification-list .notification", has_text="u0")
    read = page.locator("#notification-list .notification", has_text="r0")
    # Unread: a label in words, a bold title, a white card; read: none of them.
    assert item.locator(".n-state").inner_text() == "Unread"
    assert read.locator(".n-state").count() == 0
    style = (
        "el => [getComputedStyle(el.querySelector('.n-title')).fontWeight,"
        " getComputedStyle(el).backgroundColor]"
    )
    unread_look, read_look = item.evaluate(style), read.evaluate(style)
    assert int(unread_look[0]) >= 700 and int(read_look[0]) <= 400, (unread_look, read_look)
    assert unread_look[1] != read_look[1]

    # One at a time ("done"): on All it stays, shown as read; the badge follows.
    item.get_by_role("button", name="Mark read: u0").click()
    page.locator("#notification-list .notification.read", has_text="u0").wait_for(timeout=WAIT)
    page.wait_for_function(
        "() => document.getElementById('unread-badge').dataset.count === '5'", timeout=WAIT
    )

    # Bulk: two chosen, marked read together; the count on the Unread tab agrees.
    page.get_by_role("checkbox", name="Select: u1").check()
    page.get_by_role("checkbox", name="Select: u2").check()
    page.get_by_role("button", name="Mark 2 read").click()
    page.locator("#n-bulk-status", has_text="2 marked read").wait_for(timeout=WAIT)
    for title in ("u1", "u2"):
        assert "read" in (page.locator(".notification", has_text=title).get_attribute("class") or "").split()
    page.wait_for_function(
        "() => document.getElementById('unread-badge').dataset.count === '3'", timeout=WAIT
    )
    assert page.locator('#n-filter [data-count="unread"]').inner_text() == "3"

    # On the Unread tab, "select all" then read: the entries go, and it says nothing is unread.
    page.locator("#n-filter a", has_text="Unread").click()
    page.locator(LIVE).wait_for(timeout=WAIT)
    assert titles(page) == ["u3", "u4", "u5"]
    page.get_by_role("checkbox", name="Select all unread shown").check()
    page.get_by_role("button", name="Mark 3 read").click()
    page.locator("#notification-list .empty", has_text="Nothing unread").wait_for(timeout=WAIT)
    page.wait_for_function(
        "() => document.getElementById('unread-badge').dataset.count === '0'", timeout=WAIT
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_open_never_links_to_the_centre_itself(
    open_page: Any, site: DaphneServer, admin: httpx.Client, width: int
) -> None:
    user = make_user(site, unread=0, read=0)
    for title, url in (("to-centre", "/notifications/"), ("to-chat", "/chat/lobby/")):
        answer = admin.post("/api/notifications/", json={"user": user, "title": title, "url": url})
        assert answer.status_code == 201, answer.text
    page = open_page(user, "/notifications/", width)
    assert page.locator(".notification", has_text="to-centre").locator(".n-link").count() == 0
    assert (
        page.locator(".notification", has_text="to-chat").locator(".n-link").get_attribute("href")
        == "/chat/lobby/"
    )
    # Arriving live, the same.
    for title, url in (("live-centre", "/notifications/"), ("live-chat", "/chat/lobby/")):
        answer = admin.post("/api/notifications/", json={"user": user, "title": title, "url": url})
        assert answer.status_code == 201, answer.text
    page.locator(".notification", has_text="live-chat").locator(".n-link").wait_for(timeout=WAIT)
    page.locator(".notification", has_text="live-centre").wait_for(timeout=WAIT)
    assert page.locator(".notification", has_text="live-centre").locator(".n-link").count() == 0


# Buttons that are not actions of the page: icon-only closers, the top bar's "Sign out",
# and the banners' "N more" toggle.
OWN_LOOK = ".link-button, .banner-dismiss, .toast-close, .banner-more"
BUTTON_LOOK = """own => [...document.querySelectorAll('button, input[type=submit], input[type=button]')]
  .filter((b) => !b.matches(own) && b.getClientRects().length && !b.disabled)
  .map((b) => {
    const s = getComputedStyle(b);
    return {text: (b.innerText || b.value || '').trim(), radius: s.borderTopLeftRadius, weight: s.fontWeight,
            size: s.fontSize, family: s.fontFamily, padding: s.paddingTop + ' ' + s.paddingLeft,
            border: s.borderTopWidth + ' ' + s.borderTopStyle + ' ' + s.borderTopColor,
            background: s.backgroundColor};
  })"""


@pytest.mark.parametrize("width", WIDTHS)
def test_one_button_style_on_every_page(open_page: Any, site: DaphneServer, width: int) -> None:
    page = open_page("admin", "/", width)
    looks: dict[str, list[dict[str, str]]] = {}
    for path in ("/", "/notifications/", "/chat/lobby/", "/jobs/", "/dashboard/", "/console/"):
        page.goto(site.url + path)
        page.locator(LIVE).wait_for(timeout=WAIT)
        looks[path] = page.evaluate(BUTTON_LOOK, OWN_LOOK)
        # The style gives buttons no display of their own: [hidden] still hides them.
        shown = "[...document.querySelectorAll('button[hidden]')].filter((b) => b.getClientRects().length)"
        assert page.evaluate(f"{shown}.length") == 0, path
    buttons = [(path, look) for path, found in looks.items() for look in found]
    assert len(buttons) >= 6, looks
    shape = {
        (look["radius"], look["weight"], look["size"], look["family"], look["padding"]) for _, look in buttons
    }
    assert len(shape) == 1, buttons
    # Solid (the page's action) or outlined (a lesser one beside it): one border, two fills.
    borders = {look["border"] for _, look in buttons}
    assert len(borders) == 1, buttons
    fills = {look["background"] for _, look in buttons}
    assert fills <= {"rgb(29, 78, 216)", "rgb(255, 255, 255)"}, buttons
