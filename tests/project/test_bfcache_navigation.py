"""Twelve pages in one tab with the back/forward cache on (issue 24, item "bfcache").

Signed in as alice, through a proxy that counts stream connections, the tab clicks through
the demo and goes Back and Forward. Every page must come live; once it is live only its own
stream is open (a page left behind, kept in the cache, holds none: HTTP/1.1 allows six
connections per site, and with each cached page holding one the sixth page sat on
"connecting…"); a page restored from the cache (``pageshow.persisted``, checked, so the test
proves the cache was used) comes live again and gets the notification published while it was
in the cache (resume from its last id); chat presence drops alice from a room she left, and
the hub's stream count (``/api/sse/stats/``) counts no ghost streams.

The checks after a page is live are collected and reported together at the end; a page that
does not come live stops the walk at once (the pages after it would only time out too).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.htmx.proxy import Proxy
from tests.project.conftest import browser_login, login
from tests.servers import DaphneServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

LIVE_TIMEOUT_MS = 45_000  # the box is slow and busy: generous, and never a timing assertion
SETTLE_S = 10.0  # how long a left-behind stream, a presence row or a hub count may take to go

# Recorded in every new document before its own scripts: pageshow/pagehide with persisted, and
# the notifications the page's stream brought (the toast of a resumed one may be gone already).
SPY = """
window.__bfc = {shows: [], hides: [], notified: [], hiddenAt: []};
addEventListener("pageshow", (e) => window.__bfc.shows.push(e.persisted));
addEventListener("pagehide", (e) => {
  window.__bfc.hides.push(e.persisted);
  // Before the page's own pagehide handlers: the id its stream had reached when it was left.
  window.__bfc.hiddenAt.push(window.pageStream ? window.pageStream.lastEventId : null);
});
document.addEventListener("notifications:new", (e) => {
  window.__bfc.notified.push(String(e.detail && e.detail.title));
});
"""


def eventually(
    probe: Callable[[], Any], ok: Callable[[Any], bool], seconds: float = SETTLE_S
) -> tuple[bool, Any]:
    """Poll ``probe`` until ``ok`` holds of its value or ``seconds`` pass: (held, last value)."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if ok(value) or time.monotonic() > deadline:
            return ok(value), value
        time.sleep(0.25)


def test_twelve_pages_back_and_forward_with_the_cache_on(
    browser: Any, site: DaphneServer, proxy: Proxy, admin: httpx.Client
) -> None:
    me = login(site.url, "alice")  # reads presence, as a page of hers does
    try:
        _walk(browser, proxy, admin, me)
    finally:
        me.close()


def _walk(browser: Any, proxy: Proxy, staff: httpx.Client, me: httpx.Client) -> None:
    problems: list[str] = []
    context = browser.new_context()
    context.add_init_script(SPY)
    page = context.new_page()
    base = proxy.url
    user_channel: list[str] = []

    def check(held: bool, what: str) -> None:
        if not held:
            problems.append(what)

    def publish(title: str) -> None:
        answer = staff.post(
            "/api/notifications/", json={"user": "alice", "title": title, "body": "issue 24 bfcache"}
        )
        assert answer.status_code == 201, answer.text

    def hub_streams() -> int:
        # The hub's whole count: its per-channel figures show staff only the channels they may
        # read, and alice's own channel is hers alone. Nothing else streams on this site now.
        return int(staff.get("/api/sse/stats/").json()["streams"])

    def presence(slug: str) -> list[str]:
        return list(me.get(f"/api/chat/{slug}/presence/").json()["users"])

    def live(step: int, label: str) -> None:
        """The page comes live (else the walk stops), then its stream is the only one open."""
        pill = page.locator("#live-state[data-state=live]")
        try:
            pill.wait_for(timeout=LIVE_TIMEOUT_MS)
        except Exception:  # reported with the problems found so far
            state = page.locator("#live-state").get_attribute("data-state")
            pytest.fail(
                f"page {step} ({label}, {page.url}) not live: data-state={state!r}; "
                f"{proxy.open_streams} stream connections open, peak {proxy.peak_streams}; "
                f"earlier problems: {problems or 'none'}"
            )
        held, opened = eventually(lambda: proxy.open_streams, lambda n: n == 1)
        check(held, f"page {step} ({label}): {opened} stream connections open once live, not 1")
        if not user_channel:
            channels = page.evaluate("window.pageStream.channels")
            user_channel.extend(c for c in channels if c.startswith("notifications.user."))
        held, counted = eventually(hub_streams, lambda n: n == 1)
        check(held, f"page {step} ({label}): the hub counts {counted} streams, not 1 ({user_channel[0]})")

    def click(selector: str, url: str) -> None:
        page.click(selector)
        page.wait_for_url(f"{base}{url}")

    def restored(direction: str, url: str, step: int, label: str) -> None:
        """Back or Forward to a page that must come from the cache, live again, and its stream
        opened anew from the id it had reached when it was left."""
        before = len(proxy.stream_requests())
        go(direction, url, step)
        live(step, label)
        left_at = page.evaluate("window.__bfc.hiddenAt.at(-1)")
        held, new = eventually(lambda: proxy.stream_requests()[before:], bool)
        resumes = [parse_qs(urlsplit(line.split(" ")[1]).query).get("lastEventId", [None])[0] for line in new]
        check(
            held and resumes[0] is not None,
            f"page {step} ({label}): its stream did not open again with a lastEventId: {new}",
        )
        # stream.lastEventId follows every id line, the id-only opening block of a quiet stream
        # included: the id the page had when it was left is where it resumes.
        check(
            not held or resumes[0] == left_at,
            f"page {step} ({label}): pageStream.lastEventId was {left_at!r} when the page was left, "
            f"its stream resumed with lastEventId {resumes[0] if held else None!r}",
        )

    def go(direction: str, url: str, step: int) -> None:
        """Back or Forward; the page must come from the cache (pageshow.persisted)."""
        # A restored page fires no load: wait for the commit only.
        getattr(page, f"go_{direction}")(wait_until="commit", timeout=LIVE_TIMEOUT_MS)
        page.wait_for_url(f"{base}{url}", wait_until="commit")
        try:  # a page loaded afresh never sees persisted: true
            page.wait_for_function("window.__bfc && window.__bfc.shows.includes(true)", timeout=15_000)
        except Exception:  # reported below
            pass
        restored = page.evaluate("window.__bfc ? window.__bfc.shows : null")
        reasons = page.evaluate(
            "JSON.stringify(performance.getEntriesByType('navigation')[0].notRestoredReasons)"
        )
        if not (restored and restored[-1] is True):
            pytest.fail(
                f"page {step} ({direction} to {url}) was not restored from the back/forward cache: "
                f"pageshow persisted {restored}, notRestoredReasons {reasons}; "
                f"earlier problems: {problems or 'none'}"
            )

    def got(title: str, step: int, where: str) -> None:
        try:
            page.wait_for_function(
                "(t) => window.__bfc.notified.includes(t)", arg=title, timeout=LIVE_TIMEOUT_MS
            )
        except Exception:  # collected
            seen = page.evaluate("window.__bfc.notified")
            check(False, f"page {step} ({where}): {title!r} never came; the page saw {seen}")

    def gone_from(slug: str, step: int) -> None:
        held, users = eventually(lambda: presence(slug), lambda u: "alice" not in u)
        check(held, f"page {step}: alice left #{slug} but its presence still lists {users}")

    try:
        browser_login(page, base, "alice")  # 1: home
        live(1, "home")
        click('nav.site-nav a[href="/notifications/"]', "/notifications/")  # 2
        live(2, "notifications")
        click('nav.site-nav a[href="/chat/lobby/"]', "/chat/lobby/")  # 3
        live(3, "chat lobby")
        held, users = eventually(lambda: presence("lobby"), lambda u: "alice" in u)
        check(held, f"page 3: alice is in #lobby but its presence lists {users}")
        click('#chat-room-list a[href="/chat/staff/"]', "/chat/staff/")  # 4
        live(4, "chat staff")
        gone_from("lobby", 4)
        click('nav.site-nav a[href="/jobs/"]', "/jobs/")  # 5
        live(5, "jobs")
        gone_from("staff", 5)
        click("a.brand", "/")  # 6: the sixth page, where the issue saw "connecting…"
        live(6, "home again")
        click('nav.site-nav a[href="/notifications/"]', "/notifications/")  # 7
        live(7, "notifications again")
        click('nav.site-nav a[href="/chat/lobby/"]', "/chat/lobby/")  # 8
        live(8, "chat lobby again")

        # The notifications page (7) is in the cache: what comes now it gets on its return.
        publish("while-cached-1")
        got("while-cached-1", 8, "chat lobby, live")
        restored("back", "/notifications/", 9, "notifications, restored")  # 9
        got("while-cached-1", 9, "notifications, restored")
        gone_from("lobby", 9)
        listed = page.locator("#notification-list li", has_text="while-cached-1")
        held, count = eventually(listed.count, lambda n: n == 1)
        check(held, f"page 9: the restored list shows 'while-cached-1' {count} times, not once")

        publish("while-cached-2")  # the lobby page (8) is in the cache now
        got("while-cached-2", 9, "notifications, live")
        restored("forward", "/chat/lobby/", 10, "chat lobby, restored")  # 10
        got("while-cached-2", 10, "chat lobby, restored")
        held, users = eventually(lambda: presence("lobby"), lambda u: "alice" in u)
        check(held, f"page 10: alice is back in #lobby but its presence lists {users}")

        click('nav.site-nav a[href="/jobs/"]', "/jobs/")  # 11
        live(11, "jobs again")
        gone_from("lobby", 11)
        publish("while-cached-3")  # the lobby page (10) is in the cache again
        got("while-cached-3", 11, "jobs, live")
        restored("back", "/chat/lobby/", 12, "chat lobby, restored again")  # 12: a second time
        got("while-cached-3", 12, "chat lobby, restored again")
        held, users = eventually(lambda: presence("lobby"), lambda u: "alice" in u)
        check(held, f"page 12: alice is back in #lobby but its presence lists {users}")

        check(
            proxy.peak_streams <= 2,
            f"at most one stream per page at a time (two briefly while one page hands over to the next): "
            f"peak {proxy.peak_streams} over {len(proxy.stream_requests())} stream requests",
        )
        assert not problems, "\n".join(problems)
    finally:
        context.close()
