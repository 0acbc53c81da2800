"""Done-when 1, 2 and 6 in headless Chromium against a real Daphne: live notifications and
badge, admin broadcasts as banners, and the docs screenshots (retaken on every run)."""

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

VIEWPORT = {"width": 1100, "height": 720}
LIVE = "#live-state[data-state=live]"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def open_page(browser: Any, site: DaphneServer) -> Iterator[Any]:
    """open_page(user, path): a signed-in page in a context of its own (its own cookies)."""
    contexts: list[Any] = []

    def open_(user: str, path: str, context: Any = None) -> Any:
        if context is None:
            context = browser.new_context(viewport=VIEWPORT)
            contexts.append(context)
            page = context.new_page()
            browser_login(page, site.url, user)
        else:
            page = context.new_page()
        page.goto(site.url + path)
        page.locator(LIVE).wait_for(timeout=20000)
        return page

    yield open_
    for context in contexts:
        context.close()


def badge_count(page: Any) -> int:
    return int(page.locator("#unread-badge").get_attribute("data-count"))


def wait_badge(page: Any, count: int) -> None:
    page.wait_for_function(
        "n => document.getElementById('unread-badge').dataset.count === n", arg=str(count), timeout=20000
    )


def test_notification_reaches_alice_live_and_not_bob(
    open_page: Any, admin: httpx.Client, docs_dir: Path
) -> None:
    alice_list = open_page("alice", "/notifications/")
    alice_other = open_page("alice", "/", context=alice_list.context)
    bob_list = open_page("bob", "/notifications/")
    before = badge_count(alice_other)
    bob_before = badge_count(bob_list)
    alice_rows = alice_list.locator("#notification-list .notification").count()

    title = unique("Build finished")
    answer = admin.post(
        "/api/notifications/",
        json={
            "user": "alice",
            "title": title,
            "body": "All 214 tests passed.",
            "level": "success",
            "url": "/jobs/",
        },
    )
    assert answer.status_code == 201, answer.text

    item = alice_list.locator("#notification-list .notification", has_text=title)
    item.wait_for(timeout=20000)
    assert alice_list.locator("#notification-list .notification").first.inner_text().startswith(title)
    assert alice_list.locator("#notification-list .notification").count() == alice_rows + 1
    assert "unread" in (item.get_attribute("class") or "")
    wait_badge(alice_other, before + 1)
    wait_badge(alice_list, before + 1)
    assert alice_other.url.endswith("/")  # no reload, no navigation

    # Bob's page does not change: a later notification of his own arrives, alice's never did.
    marker = unique("for-bob")
    assert admin.post("/api/notifications/", json={"user": "bob", "title": marker}).status_code == 201
    bob_list.locator("#notification-list .notification", has_text=marker).wait_for(timeout=20000)
    assert bob_list.locator(".notification", has_text=title).count() == 0
    wait_badge(bob_list, bob_before + 1)

    alice_list.screenshot(path=str(docs_dir / "notifications.png"))

    item.locator(".mark-read").click()
    alice_list.locator("#notification-list .notification.unread", has_text=title).wait_for(
        state="detached", timeout=20000
    )
    # The other page's badge follows the `unread` event.
    wait_badge(alice_other, before)
    wait_badge(alice_list, before)


def admin_add_broadcast(page: Any, site: DaphneServer, title: str, body: str, **choices: str) -> None:
    page.goto(f"{site.url}/admin/notifications/broadcast/add/")
    page.locator("#id_title").press_sequentially(title)
    page.locator("#id_body").press_sequentially(body)
    page.select_option("#id_level", choices.get("level", "info"))
    page.select_option("#id_audience", choices.get("audience", "everyone"))
    if "group" in choices:
        page.select_option("#id_group", label=choices["group"])
    page.locator("input[name=_save]").click()
    page.wait_for_url(f"{site.url}/admin/notifications/broadcast/", timeout=20000)


def change_list_row(page: Any, title: str) -> dict[str, str]:
    row = page.locator("#result_list tbody tr", has_text=title)
    return {
        "sent_at": row.locator("td.field-sent_at").inner_text(),
        "streams_reached": row.locator("td.field-streams_reached").inner_text(),
    }


def test_admin_broadcast_banner_and_group_audience(
    open_page: Any, browser: Any, site: DaphneServer, admin: httpx.Client, docs_dir: Path
) -> None:
    group = unique("testers")
    shell(
        site.env,
        "from django.contrib.auth.models import Group, User\n"
        f"Group.objects.create(name={group!r}).user_set.add(User.objects.get(username='bob'))\n",
    )
    alice = open_page("alice", "/notifications/")
    bob = open_page("bob", "/")

    staff_context = browser.new_context(viewport=VIEWPORT)
    try:
        staff = staff_context.new_page()
        browser_login(staff, site.url, "admin")

        # Everyone: both open pages show the banner, live.
        title = unique("Maintenance tonight")
        body = "The site restarts at 22:00 UTC; pages reconnect by themselves."
        admin_add_broadcast(staff, site, title, body, level="warning")
        for page in (alice, bob):
            page.locator("#broadcast-banners .banner", has_text=title).wait_for(timeout=20000)
        bob.screenshot(path=str(docs_dir / "banner.png"))
        row = change_list_row(staff, title)
        assert row["sent_at"] not in ("", "-")
        assert int(row["streams_reached"]) >= 2

        # Dismissing hides it, and it stays hidden on the next page load.
        bob.locator("#broadcast-banners .banner", has_text=title).locator(".banner-dismiss").click()
        assert bob.locator("#broadcast-banners .banner", has_text=title).count() == 0
        bob.reload()
        bob.locator(LIVE).wait_for(timeout=20000)
        assert bob.locator("#broadcast-banners .banner", has_text=title).count() == 0

        # One group: only its member (bob) gets it.
        only = unique("Testers only")
        admin_add_broadcast(staff, site, only, "Build 42 is ready to test.", audience="group", group=group)
        bob.locator("#broadcast-banners .banner", has_text=only).wait_for(timeout=20000)
        assert change_list_row(staff, only)["streams_reached"] == "1"
        # A later event on alice's own channel arrives; the group broadcast never came before it.
        marker = unique("alice-marker")
        assert admin.post("/api/notifications/", json={"user": "alice", "title": marker}).status_code == 201
        alice.locator("#notification-list .notification", has_text=marker).wait_for(timeout=20000)
        assert alice.locator("#broadcast-banners .banner", has_text=only).count() == 0
        # On page load too: the server renders active broadcasts for their audience only.
        alice.reload()
        alice.locator(LIVE).wait_for(timeout=20000)
        assert alice.locator("#broadcast-banners .banner", has_text=only).count() == 0
        assert alice.locator("#broadcast-banners .banner", has_text=title).count() == 1
        bob.reload()
        assert bob.locator("#broadcast-banners .banner", has_text=only).count() == 1
    finally:
        staff_context.close()


def test_dashboard_page_updates_live(open_page: Any, docs_dir: Path) -> None:
    open_page("alice", "/notifications/")
    open_page("bob", "/")
    page = open_page("admin", "/dashboard/")
    # The process label and the figures are replaced by the first live `metrics` event.
    page.locator("#processes", has_text="server process").wait_for(timeout=20000)
    page.wait_for_function("Number(document.getElementById('fig-streams').dataset.value) >= 3", timeout=20000)
    assert page.locator("#by-kind tr[data-kind=notifications]").count() == 1
    page.wait_for_function(
        "document.querySelector('#chart-streams polyline').getAttribute('points').split(' ').length >= 10",
        timeout=20000,
    )
    assert page.locator("#max-streams").inner_text().startswith("(max ")
    page.screenshot(path=str(docs_dir / "dashboard.png"), full_page=True)
