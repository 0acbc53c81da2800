"""The htmx notifications page (/notifications/htmx/) in Chromium: htmx 2 and htmx 4 fed by
sse.js (sse-htmx.js), and htmx 2 with its own SSE extension (htmx-ext-sse, sse-htmx-ext.js).

Through a proxy in front of Daphne: new notifications arrive as HTML fragments swapped
in by htmx; markup in a title or body shows as text and runs nothing; and a phase of
503 answers for the stream (as a proxy gives while a server restarts) during which
notifications are published ends with every notification on the page once, in order.

The 503 phase lasts as many reconnects as there are notifications published in it: after
each notification the page's stream is refused once more, the page's back-off growing
each time. The page's clock (Playwright's fake timers) is jumped past the back-off so a
retry due in 16 s of page time comes at once; the requests, the 503s, the resumed stream
and the swaps are all real.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.htmx.proxy import Proxy
from tests.project.conftest import browser_login, login

XSS = "<img src=x onerror=window.__xss=1>"
WAIT_MS = 120_000  # generous: the machine is shared
# Longer than the longest back-off of either client (sse.js: 30 s, htmx-ext-sse: 64 s):
# one jump of the page's clock fires whatever retry is pending.
BACKOFF_JUMP_MS = 65_000


def notify(staff: httpx.Client, title: str, body: str = "") -> None:
    answer = staff.post("/api/notifications/", json={"user": "alice", "title": title, "body": body})
    assert answer.status_code == 201, answer.text


def titles(page: Any, tag: str) -> list[str]:
    texts: list[str] = page.locator("#notification-list .n-title").all_inner_texts()
    return [t for t in texts if t.startswith(tag)]


SHOWN = "t => [...document.querySelectorAll('#notification-list .n-title')].some(e => e.textContent === t)"


def wait_for_title(page: Any, title: str) -> None:
    page.wait_for_function(SHOWN, arg=title, timeout=WAIT_MS)


def fast_forward_until(page: Any, done: Callable[[], bool], what: str) -> None:
    """Jump the page's clock past any back-off until done(): retries come without the wait."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.clock.fast_forward(BACKOFF_JUMP_MS)
        page.wait_for_timeout(200)  # real time (Playwright's, not the page's); lets events in


@pytest.mark.browser
@pytest.mark.parametrize("version", ["2", "2-ext", "4"])
def test_htmx_page_swaps_escaped_fragments_and_loses_nothing_across_503s(
    version: str, browser: Any, proxy: Proxy, staff: httpx.Client
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.clock.install()  # before the page's scripts run: their timers are the fake ones
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def streams() -> list[str]:
        """What the proxy answered each stream request so far: "passed" or "503"."""
        with proxy._lock:
            return [done for line, done in proxy.log if " /sse/stream/" in line]

    browser_login(page, proxy.url, "alice")
    page.goto(f"{proxy.url}/notifications/htmx/?htmx={version}")
    page.locator("#live-state[data-state=live]").wait_for(timeout=WAIT_MS)
    assert page.evaluate("htmx.version").split(".")[0] == version[0]
    tag = uuid.uuid4().hex[:8]

    # A fragment swaps in; markup in its title and body is text.
    marked_up = f"{tag} {XSS}"
    notify(staff, marked_up, XSS)
    wait_for_title(page, marked_up)
    item = page.locator("#notification-list .notification").first
    assert item.locator(".n-title").inner_text() == marked_up
    assert item.locator(".n-body").inner_text() == XSS
    assert item.locator("img").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"

    # The stream's requests get 503 (open streams are cut) while notifications go out: after
    # each one the page tries its stream again and is refused again, backing off further.
    assert streams() and "503" not in streams()
    proxy.refuse(True)
    during = [f"{tag} during {i}" for i in range(5)]
    for title in during:
        notify(staff, title)
        refused = streams().count("503")
        fast_forward_until(
            page, lambda n=refused: streams().count("503") > n, "the page to try its stream again"
        )
    assert streams().count("503") >= len(during)
    assert titles(page, tag) == [marked_up], "an event came through the 503 phase"
    proxy.refuse(False)
    after = f"{tag} after"
    notify(staff, after)
    fast_forward_until(page, lambda: bool(page.evaluate(SHOWN, after)), "the notification after the 503s")

    # Newest first (hx-swap="afterbegin"): each once, in the order published.
    assert titles(page, tag) == [after, *reversed(during), marked_up]
    resumed = [line for line, _ in proxy.log if "/sse/stream/" in line and "lastEventId=" in line]
    assert resumed, "the stream was reopened without the last event id"
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert errors == []
    context.close()


@pytest.mark.parametrize("value", ["5", "", "2.0"])
def test_htmx_page_refuses_an_unknown_htmx_version_with_400(value: str, htmx_site: Any) -> None:
    client = login(htmx_site.url, "alice")
    answer = client.get("/notifications/htmx/", params={"htmx": value})
    assert answer.status_code == 400
    assert answer.text == "htmx must be one of 2, 2-ext, 4\n"
    page = client.get("/notifications/htmx/")
    assert page.status_code == 200
    assert "vendor/htmx/2.0.11/htmx.min.js" in page.text
    assert 'data-sse-stream="/sse/stream/"' in page.text
    client.close()
