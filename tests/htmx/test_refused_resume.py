"""No event lost, doubled or reordered when a page's stream is refused, cut or renewed
(issue 24, item 1), for each browser client of the demo:

- ``/notifications/``: sse.js, the layout's ``window.pageStream``;
- ``/notifications/htmx/?htmx=2`` and ``?htmx=4``: sse-htmx.js on that same stream;
- ``/notifications/htmx/?htmx=2-ext``: htmx-ext-sse with sse-htmx-ext.js (beside the
  layout's stream).

Each page is opened through tests/htmx/proxy.py, which then opens a gap: it answers
``503`` (cutting the open streams), closes its port (connection refused), or cuts the
streams, lets them come back and answers ``503`` from then on. Notifications are
published during the gap, one at a time, the page trying its stream again after each
(the page's clock, Playwright's fake timers, is jumped through its back-off). Then the
gap ends and the page must show every notification once, in the order published.

The gap comes before the page's first event (the stream has sent only its opening
block, whose ``id:`` line is the page's only cursor: the case that lost both
notifications of the issue's repro) or after some events.

A last case opens sse.js with token auth (a ``token`` function over the demo's token
API) on a quiet channel and has its token renewed before its first event: on an expired
``expires_at``, and on a ``401`` for a bare token; the events published meanwhile arrive.

The events a page got are read twice: the list (what htmx swapped in, or the list page's
script drew), and the ``notifications:new`` events the layout dispatches for each
``notification`` event of the page's stream (the list page hides a doubled one; this
does not).
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.htmx.proxy import Proxy
from tests.htmx.test_demo import BACKOFF_JUMP_MS, SHOWN, WAIT_MS, notify, titles
from tests.project.conftest import browser_login

pytestmark = pytest.mark.browser

PAGES = {
    "sse.js": "/notifications/",
    "sse-htmx.js/htmx2": "/notifications/htmx/?htmx=2",
    "sse-htmx.js/htmx4": "/notifications/htmx/?htmx=4",
    "htmx-ext-sse": "/notifications/htmx/?htmx=2-ext",
}

# Before the page's scripts: what the page's stream delivered (the layout dispatches
# notifications:new for each `notification` event), whether htmx-ext-sse opened, and the
# page's console.
INIT = """
window.__seen = [];
document.addEventListener("notifications:new", (e) => window.__seen.push(e.detail.title));
document.addEventListener("htmx:sseOpen", () => { window.__extOpen = true; });
"""

# The page's streams are open: the layout's (and the sse-htmx.js root on it), and
# htmx-ext-sse's own where the page has it.
READY = """() => {
  const live = document.querySelector("#live-state[data-state=live]") !== null;
  const root = document.getElementById("htmx-notifications");
  if (!root) return live;
  const rootLive = root.dataset.sseState === "live";
  if (root.hasAttribute("sse-connect")) return live && (window.__extOpen === true || rootLive);
  return live && rootLive;
}"""


class Watch:
    """What a page said (console, errors, navigations) and what its proxy saw, for failures."""

    def __init__(self, page: Any, proxy: Proxy) -> None:
        self.page = page
        self.proxy = proxy
        self.console: list[str] = []
        self.navigations = 0
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda exc: self.console.append(f"pageerror: {exc}"))
        # A document loaded (a reload, as on `reset`); same-document history changes are not.
        page.on("domcontentloaded", lambda _: self._loaded())
        page.on(
            "framenavigated",
            lambda f: self.console.append(f"navigated: {f.url}") if f == page.main_frame else None,
        )

    def _loaded(self) -> None:
        self.navigations += 1

    def report(self) -> str:
        with self.proxy._lock:
            log = [f"{line} -> {done}" for line, done in self.proxy.log if "/sse/stream/" in line]
        try:
            state = self.page.evaluate(
                "() => { const s = window.stream || window.pageStream;"
                " return s ? [s.state, s.stopReason, s.lastEventId] : null; }"
            )
        except Exception as exc:  # a report must not fail
            state = repr(exc)
        return (
            f"\nstream [state, stopReason, lastEventId]: {state}"
            f"\nnavigations: {self.navigations}"
            f"\nstream requests at the proxy ({self.proxy.open_streams} open):\n  "
            + "\n  ".join(log[-30:])
            + "\nconsole:\n  "
            + "\n  ".join(self.console[-30:])
        )


def poke(page: Any) -> None:
    """Jump the page's clock past any back-off, then let real time pass for the requests."""
    page.clock.fast_forward(BACKOFF_JUMP_MS)
    page.wait_for_timeout(250)


def until(page: Any, done: Callable[[], bool], what: str, watch: Watch) -> None:
    deadline = time.monotonic() + WAIT_MS / 1000
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + watch.report())
        poke(page)


def seen(page: Any, tag: str) -> list[str]:
    return [t for t in page.evaluate("window.__seen") if t.startswith(tag)]


def passed_streams(proxy: Proxy) -> int:
    return len([line for line in proxy.answered("passed") if "/sse/stream/" in line])


def open_page(browser: Any, proxy: Proxy, path: str) -> tuple[Any, Watch]:
    context = browser.new_context()
    page = context.new_page()
    page.clock.install()  # before the page's scripts run: their timers are the fake ones
    page.add_init_script(INIT)
    watch = Watch(page, proxy)
    browser_login(page, proxy.url, "alice")
    page.goto(proxy.url + path)
    until(page, lambda: bool(page.evaluate(READY)), "the page's streams to open", watch)
    # The opening block (retry:, id:) comes with the answer's head; heartbeats every second.
    page.wait_for_timeout(500)
    watch.navigations = 0  # from here, any navigation is the page reloading
    return page, watch


def close_port(proxy: Proxy) -> None:
    """proxy.stop(), and (checked) its port refuses connections from then on."""
    proxy.stop()
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", proxy.port), timeout=2).close()
        except ConnectionRefusedError:
            return
        assert time.monotonic() < deadline, "the proxy's port still accepts connections"
        time.sleep(0.05)


def reopened(page: Any, proxy: Proxy, passed: int) -> bool:
    """A stream request passed since ``passed`` were, and the page's streams are live."""
    return passed_streams(proxy) > passed and bool(page.evaluate(READY))


def open_gap(kind: str, page: Any, proxy: Proxy, watch: Watch) -> None:
    page.evaluate("window.__extOpen = false")  # htmx-ext-sse says so again when it reopens
    if kind == "503":
        proxy.refuse(True)
    elif kind == "refused":
        close_port(proxy)
    else:  # "cut-503": the streams end, come back (a new opening block), then 503s
        passed = passed_streams(proxy)
        proxy.cut()
        until(
            page,
            lambda: reopened(page, proxy, passed),
            "the page's streams to come back after the cut",
            watch,
        )
        page.wait_for_timeout(500)
        page.evaluate("window.__extOpen = false")
        proxy.refuse(True)


def close_gap(kind: str, proxy: Proxy) -> None:
    if kind == "refused":
        proxy.start()
    else:
        proxy.refuse(False)


def publish_during_gap(
    kind: str, page: Any, proxy: Proxy, staff: httpx.Client, titles_: list[str], watch: Watch
) -> None:
    """Each notification, then the page tries its stream again (and is refused again)."""
    for title in titles_:
        notify(staff, title)
        if kind == "refused":
            poke(page)
            poke(page)
        else:
            refused = len(proxy.answered("503"))

            def tried_again(n: int = refused) -> bool:
                return len(proxy.answered("503")) > n

            until(page, tried_again, "the page to try its stream again", watch)


GAPS = ["503", "refused", "cut-503"]
CASES = [
    # Before the page's first event: every client through every gap (htmx 4 is sse-htmx.js
    # again: through 503s only).
    *[
        pytest.param(name, gap, 0, id=f"{name}-{gap}-before-first-event")
        for name in PAGES
        for gap in (GAPS if name != "sse-htmx.js/htmx4" else ["503"])
    ],
    # After some events: each client through one of the gaps.
    pytest.param("sse.js", "503", 2, id="sse.js-503-after-events"),
    pytest.param("sse-htmx.js/htmx2", "cut-503", 2, id="sse-htmx.js/htmx2-cut-503-after-events"),
    pytest.param("htmx-ext-sse", "refused", 2, id="htmx-ext-sse-refused-after-events"),
]


@pytest.mark.parametrize(("client", "gap", "before"), CASES)
def test_no_event_lost_doubled_or_reordered_across_a_gap(
    client: str, gap: str, before: int, browser: Any, proxy: Proxy, staff: httpx.Client
) -> None:
    page, watch = open_page(browser, proxy, PAGES[client])
    tag = uuid.uuid4().hex[:8]
    first = [f"{tag} before {i}" for i in range(before)]
    for title in first:
        notify(staff, title)
    if first:
        until(
            page,
            lambda: bool(page.evaluate(SHOWN, first[-1])) and first[-1] in seen(page, tag),
            "the events before the gap",
            watch,
        )
    open_gap(gap, page, proxy, watch)
    during = [f"{tag} during {i}" for i in range(2)]
    publish_during_gap(gap, page, proxy, staff, during, watch)
    passed = passed_streams(proxy)
    close_gap(gap, proxy)
    until(
        page, lambda: reopened(page, proxy, passed), "the page's streams to open again after the gap", watch
    )
    page.wait_for_timeout(500)
    # Published once the page is live again: it comes after whatever the page resumed.
    after = f"{tag} after"
    notify(staff, after)
    until(
        page,
        lambda: bool(page.evaluate(SHOWN, after)) and after in seen(page, tag),
        "the notification published after the gap",
        watch,
    )
    poke(page)  # room for a late double

    published = [*first, *during, after]
    assert titles(page, tag) == list(reversed(published)), "the list (newest first)" + watch.report()
    assert seen(page, tag) == published, "the page stream's notification events" + watch.report()
    assert watch.navigations == 0, "the page reloaded" + watch.report()
    assert not [line for line in watch.console if line.startswith("pageerror")], watch.report()
    page.context.close()


# -- token renewal --------------------------------------------------------------------

# A page of the test's own, on the site's origin: sse.js with a `token` function over the
# demo's token API, on the signed-in user's notification channel, quiet until the test
# publishes. `expiring`: the token's expires_at goes along; `bare`: only the token string,
# so sse.js learns it is stale from the stream's 401.
TOKEN_PAGE = """<!doctype html>
<meta charset="utf-8">
<title>token renewal</title>
<script src="/static/sse/sse.js"></script>
<script>
  const CONFIG = %(config)s;
  window.got = [];
  window.tokens = 0;
  const csrf = () => (document.cookie.match(/(?:^|;\\s*)csrftoken=([^;]+)/) || [])[1] || "";
  async function token(channels) {
    window.tokens += 1;
    const r = await fetch("/api/sse/tokens/", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
      body: JSON.stringify({channels}),
    });
    if (!r.ok) { const e = new Error("token: " + r.status); e.status = r.status; throw e; }
    const answer = await r.json();
    return CONFIG.mode === "bare" ? answer.token : answer;
  }
  const stream = new SSEStream({channels: [CONFIG.channel], token, share: false});
  stream.on("notification", (data) => window.got.push(data.title));
  window.stream = stream;
  stream.start();
</script>
<p>token page</p>
"""


@pytest.mark.parametrize("mode", ["expiring", "bare"])
def test_token_stream_renewed_before_its_first_event_loses_nothing(
    mode: str, browser: Any, proxy: Proxy, staff: httpx.Client
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.clock.install()
    watch = Watch(page, proxy)
    browser_login(page, proxy.url, "alice")
    channel = page.evaluate("window.pageStream.channels.find((c) => c.startsWith('notifications.user.'))")
    assert channel
    html = TOKEN_PAGE % {"config": json.dumps({"channel": channel, "mode": mode})}
    context.route(
        f"{proxy.url}/token-page/",
        lambda route: route.fulfill(status=200, content_type="text/html", body=html),
    )
    # While `unauthorized` holds, the stream answers 401, as it does to an expired token.
    unauthorized = {"on": False}

    def streams(route: Any) -> None:
        if unauthorized["on"]:
            route.fulfill(status=401, content_type="text/plain", body="token expired\n")
        else:
            route.continue_()

    context.route(lambda url: "/sse/stream/" in url, streams)
    page.goto(f"{proxy.url}/token-page/")
    until(page, lambda: page.evaluate("window.stream.state") == "live", "the token stream to open", watch)
    page.wait_for_timeout(500)  # its opening block (the cursor) is in; nothing published yet
    tokens = page.evaluate("window.tokens")
    tag = uuid.uuid4().hex[:8]

    if mode == "expiring":
        # Past the token's expires_at (300 s): whatever reconnects next needs a new one.
        page.clock.fast_forward(400_000)
        page.wait_for_timeout(250)
    else:
        unauthorized["on"] = True
    proxy.refuse(True)  # the stream ends; its next tries get 503 (or the 401 above)
    during = [f"{tag} during {i}" for i in range(2)]
    for title in during:
        notify(staff, title)
        poke(page)
    until(page, lambda: page.evaluate("window.tokens") > tokens, "a token renewal", watch)
    unauthorized["on"] = False
    proxy.refuse(False)
    until(
        page, lambda: page.evaluate("window.stream.state") == "live", "the token stream to open again", watch
    )
    after = f"{tag} after"
    notify(staff, after)
    until(page, lambda: after in page.evaluate("window.got"), "the notification after the renewal", watch)
    poke(page)
    got = [t for t in page.evaluate("window.got") if t.startswith(tag)]
    assert got == [*during, after], watch.report()
    context.close()
