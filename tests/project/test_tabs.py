"""Tabs of one browser profile share one stream connection (issue 24).

One Chromium context is one profile; its pages are its tabs. They load the demo through the
proxy of tests/htmx/proxy.py, which counts the stream connections the browser holds to its
host:port (where the browser's HTTP/1.1 limit of six connections applies). Every tab collects
the ids of the events its ``window.pageStream`` hands it, so what each tab got is compared
exactly: nothing lost, nothing twice, only its own channels. No timing is asserted; waits are
generous (a busy two-core box).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.htmx.proxy import Proxy
from tests.project.conftest import browser_login

pytestmark = pytest.mark.browser

WAIT_MS = 60_000
LIVE = "#live-state[data-state=live]"

# Each tab's pageStream hands what it gets to window.__got: notification ids, chat message bodies.
COLLECT = """() => {
  if (window.__got) return;
  window.__got = {notification: [], message: []};
  window.pageStream.on("notification", (d) => window.__got.notification.push(d.id));
  window.pageStream.on("message", (d) => window.__got.message.push(d.body));
}"""

# A page of the site's origin with only sse.js: a token stream, as a page on another site would have.
TOKEN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>token tab</title>
<script src="/static/sse/sse.js"></script></head><body><p id="state"></p>
<script>
  window.pageStream = new SSEStream({channels: [%r], auth: "token"});
  window.pageStream.onState((s) => { document.getElementById("state").textContent = s; });
  window.pageStream.start();
</script></body></html>"""


class Profile:
    """One browser profile (a context) signed in as one user, and its tabs."""

    def __init__(self, browser: Any, proxy: Proxy, init_script: str | None = None) -> None:
        self.proxy = proxy
        self.context = browser.new_context()
        if init_script:
            self.context.add_init_script(init_script)
        self.console: list[str] = []
        self.tabs: list[Any] = []
        self._names = 0

    def new_tab(self) -> Any:
        page = self.context.new_page()
        name = f"tab{self._names}"
        self._names += 1
        page.on("console", lambda m: self.console.append(f"{name} {page.url}: {m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"{name} {page.url}: pageerror: {e}"))
        page.on("close", lambda _: self.console.append(f"{name}: closed"))
        self.tabs.append(page)
        return page

    def login(self, user: str = "alice") -> Any:
        """Sign in through the proxy; the tab stays on the home page it lands on."""
        page = self.new_tab()
        browser_login(page, self.proxy.url, user)
        return page

    def open(self, path: str) -> Any:
        page = self.new_tab()
        page.goto(self.proxy.url + path, timeout=WAIT_MS)
        return page

    def close_tab(self, page: Any) -> None:
        self.tabs.remove(page)
        page.close()

    def report(self) -> str:
        lines = ["stream requests through the proxy:", *self.proxy.stream_requests()]
        lines += ["browser console:", *self.console[-200:]]
        return "\n".join(lines)


@pytest.fixture
def profile(browser: Any, proxy: Proxy) -> Iterator[Callable[..., Profile]]:
    made: list[Profile] = []

    def make(init_script: str | None = None) -> Profile:
        made.append(Profile(browser, proxy, init_script))
        return made[-1]

    yield make
    for p in made:
        # Shown by pytest when the test failed.
        print(p.report())
        p.context.close()


def live(page: Any) -> None:
    page.locator(LIVE).wait_for(timeout=WAIT_MS)
    page.evaluate(COLLECT)


def wait_until(
    page: Any, check: Callable[[], bool], what: str | Callable[[], str], timeout: float = WAIT_MS / 1000
) -> None:
    """Poll ``check`` (letting Playwright dispatch its events in between, given a page) until it holds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what if isinstance(what, str) else what()}")
        if page is None:
            time.sleep(0.2)
        else:
            page.wait_for_timeout(200)


def wait_streams(page: Any, proxy: Proxy, count: int) -> None:
    wait_until(
        page, lambda: proxy.open_streams == count, lambda: f"{count} streams (open: {proxy.open_streams})"
    )


def got(page: Any, kind: str = "notification") -> list[Any]:
    return list(page.evaluate("(k) => window.__got[k].slice()", kind))


def wait_for_ids(pages: list[Any], ids: list[Any], kind: str = "notification") -> None:
    for page in pages:
        page.wait_for_function(
            "([k, ids]) => ids.every((i) => window.__got[k].includes(i))", arg=[kind, ids], timeout=WAIT_MS
        )


def leaders(tabs: list[Any]) -> list[Any]:
    return [t for t in tabs if t.evaluate("window.pageStream.isLeader === true")]


def four_live_tabs(alice: Profile, paths: list[str]) -> list[Any]:
    """alice signed in (home) and three more tabs on ``paths``, all live, one of them the leader."""
    live(alice.login())
    for path in paths:
        live(alice.open(path))
    tabs = list(alice.tabs)
    wait_until(tabs[0], lambda: len(leaders(tabs)) == 1, f"one leader among {len(tabs)} tabs")
    return tabs


def notify(admin: httpx.Client, title: str) -> int:
    answer = admin.post("/api/notifications/", json={"user": "alice", "title": title})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def test_eight_tabs_share_one_connection_and_all_get_every_event(
    profile: Callable[..., Profile], proxy: Proxy, admin: httpx.Client, alice: httpx.Client
) -> None:
    browser_alice = profile()
    home = browser_alice.login()
    live(home)
    paths = [
        "/notifications/",
        "/chat/lobby/",
        "/jobs/",
        "/chat/staff/",
        "/notifications/htmx/",
        "/notifications/htmx/?htmx=2-ext",
        "/",
    ]
    for path in paths:
        page = browser_alice.open(path)
        live(page)
        assert proxy.peak_streams <= 2, (
            f"{len(browser_alice.tabs)} tabs live, {proxy.peak_streams} stream connections at once "
            f"({proxy.open_streams} open now): the tabs do not share"
        )
    assert len(browser_alice.tabs) == 8
    # One connection now (a second only while the leader changed its channels).
    wait_streams(home, proxy, 1)
    assert proxy.peak_streams <= 2
    assert len(leaders(browser_alice.tabs)) == 1

    ids = [notify(admin, f"to eight tabs {n}") for n in range(3)]
    wait_for_ids(browser_alice.tabs, ids)
    for page in browser_alice.tabs:
        assert got(page) == ids, page.url
        assert page.locator(LIVE).count() == 1, page.url
    # The demo's own signals follow too: the badge on every page, the list on /notifications/.
    unread = alice.get("/api/notifications/?page_size=1").json()["unread"]
    for page in browser_alice.tabs:
        page.locator(f"#unread-badge[data-count='{unread}']").wait_for(state="attached", timeout=WAIT_MS)
    # The lists of /notifications/ and of the htmx pages (fragments swapped in by htmx).
    for page in browser_alice.tabs:
        if "/notifications/" in page.url:
            page.locator("#notification-list", has_text="to eight tabs 2").wait_for(timeout=WAIT_MS)
    assert proxy.peak_streams <= 2


@pytest.mark.parametrize("leaves", ["closes", "navigates"])
def test_when_the_leader_tab_goes_another_takes_over_without_losing_or_repeating_events(
    leaves: str, profile: Callable[..., Profile], proxy: Proxy, admin: httpx.Client
) -> None:
    alice = profile()
    tabs = four_live_tabs(alice, ["/notifications/", "/jobs/", "/chat/lobby/"])
    first = notify(admin, "before the handover")
    wait_for_ids(tabs, [first])

    leader = leaders(tabs)[0]
    rest = [t for t in tabs if t is not leader]
    requests_before = len(proxy.stream_requests())
    sent = [first, notify(admin, "right before the leader goes")]
    if leaves == "closes":
        alice.close_tab(leader)
    else:
        leader.evaluate("location.href = '/jobs/?moved'")
    sent += [notify(admin, "during the handover 1"), notify(admin, "during the handover 2")]
    if leaves == "navigates":
        # The page it went to joins again (and may hold the connection again).
        leader.wait_for_url("**/jobs/?moved", timeout=WAIT_MS)
        live(leader)
    wait_until(
        rest[0], lambda: len(leaders(alice.tabs)) == 1, f"a new leader among the {len(alice.tabs)} tabs"
    )
    after = [notify(admin, f"after the handover {n}") for n in range(2)]
    sent += after
    wait_for_ids(rest, sent)
    # A last one: any repeat of the earlier ones would have come before it.
    fence = notify(admin, "fence")
    sent.append(fence)
    wait_for_ids(rest, sent)
    for page in rest:
        assert got(page) == sent, f"{page.url}: got {got(page)}, sent {sent}"
        assert page.locator(LIVE).count() == 1, page.url
    if leaves == "navigates":
        wait_for_ids([leader], [*after, fence])
        assert got(leader)[-3:] == [*after, fence], got(leader)

    taken_over = proxy.stream_requests()[requests_before:]
    assert taken_over, "no stream request after the leader went"
    assert all("lastEventId=" in line for line in taken_over), taken_over
    wait_streams(rest[0], proxy, 1)
    assert proxy.peak_streams <= 2


def test_tabs_of_different_rooms_get_only_their_own_messages(
    profile: Callable[..., Profile], proxy: Proxy, admin: httpx.Client, alice: httpx.Client
) -> None:
    rooms = {room["slug"] for room in alice.get("/api/chat/rooms/").json()["results"]}
    assert {"lobby", "staff"} <= rooms, rooms
    browser_alice = profile()
    home = browser_alice.login()
    live(home)
    lobby = browser_alice.open("/chat/lobby/")
    live(lobby)
    staff = browser_alice.open("/chat/staff/")
    live(staff)
    tabs = [home, lobby, staff]
    # Posted as soon as the staff tab says it is live: a live tab gets every later event of its
    # channels, also while the shared connection is still adding them.
    stamp = f"{time.time_ns()}"
    for slug in ("lobby", "staff"):
        answer = alice.post(f"/api/chat/{slug}/messages/", json={"body": f"to {slug} {stamp}"})
        assert answer.status_code == 201, answer.text
    wait_for_ids([lobby], [f"to lobby {stamp}"], "message")
    wait_for_ids([staff], [f"to staff {stamp}"], "message")
    fence = notify(admin, "fence for the rooms")
    wait_for_ids(tabs, [fence])

    wait_streams(home, proxy, 1)
    assert got(lobby, "message") == [f"to lobby {stamp}"]
    assert got(staff, "message") == [f"to staff {stamp}"]
    assert got(home, "message") == []
    for page in tabs:
        assert got(page) == [fence], page.url
    assert proxy.peak_streams <= 2


def test_token_auth_tabs_share_too(
    profile: Callable[..., Profile], proxy: Proxy, admin: httpx.Client
) -> None:
    alice = profile()
    home = alice.login()
    live(home)
    channel = home.evaluate("window.pageStream.channels[0]")
    assert channel.startswith("notifications.user."), channel
    # Only the token tabs from here on.
    alice.close_tab(home)
    wait_until(None, lambda: proxy.open_streams == 0, "the home tab's stream closed")
    proxy.peak_streams = 0
    already = len(proxy.stream_requests())

    html = TOKEN_PAGE % channel
    alice.context.route(
        f"{proxy.url}/tabs/token/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body=html),
    )
    tabs = [alice.open(f"/tabs/token/{n}/") for n in range(3)]
    for page in tabs:
        page.wait_for_function("window.pageStream.state === 'live'", timeout=WAIT_MS)
        page.evaluate(COLLECT)
        assert proxy.peak_streams <= 2, f"{proxy.peak_streams} token stream connections at once"
    wait_streams(tabs[0], proxy, 1)
    assert len(leaders(tabs)) == 1
    streams = proxy.stream_requests()[already:]
    assert streams and all("token=" in line for line in streams), streams

    ids = [notify(admin, f"to token tabs {n}") for n in range(3)]
    wait_for_ids(tabs, ids)
    for page in tabs:
        assert got(page) == ids, page.url
    assert proxy.peak_streams <= 2


@pytest.mark.parametrize("where", ["follower", "leader"])
def test_signing_out_in_one_tab_stops_the_stream_in_all(
    where: str, profile: Callable[..., Profile], proxy: Proxy
) -> None:
    alice = profile()
    tabs = four_live_tabs(alice, ["/notifications/", "/chat/lobby/", "/jobs/"])
    # From a tab that does not hold the connection the server ends the leader's; from the one
    # that does, another tab takes over and is refused.
    leader = leaders(tabs)[0]
    out = leader if where == "leader" else next(t for t in tabs if t is not leader)
    out.locator("header form button", has_text="Sign out").click()
    out.locator("#live-state[data-state=signed-out]").wait_for(timeout=WAIT_MS)
    for page in tabs:
        if page is out:
            continue
        page.wait_for_function("window.pageStream.state === 'stopped'", timeout=WAIT_MS)
        assert page.evaluate("window.pageStream.stopReason") == "unauthorized", page.url
        assert page.locator("#live-state").inner_text() == "signed out", page.url
    wait_streams(tabs[0], proxy, 0)


@pytest.mark.parametrize(
    "missing",
    ["delete window.BroadcastChannel;", "delete Navigator.prototype.locks;"],
    ids=["no-BroadcastChannel", "no-web-locks"],
)
def test_without_what_sharing_needs_each_tab_has_its_own_stream(
    missing: str, profile: Callable[..., Profile], proxy: Proxy, admin: httpx.Client
) -> None:
    alice = profile(init_script=missing)
    live(alice.login())
    for path in ["/notifications/", "/jobs/"]:
        live(alice.open(path))
    tabs = alice.tabs
    assert tabs[0].evaluate("typeof BroadcastChannel === 'undefined' || !('locks' in navigator)")
    wait_streams(tabs[0], proxy, 3)

    ids = [notify(admin, f"no sharing {n}") for n in range(2)]
    wait_for_ids(tabs, ids)
    fence = notify(admin, "fence without sharing")
    wait_for_ids(tabs, [fence])
    for page in tabs:
        assert got(page) == [*ids, fence], page.url
        assert page.locator(LIVE).count() == 1, page.url
