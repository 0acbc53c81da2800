"""Every page fits a phone: at 375 px (and at 1280 px) nothing is wider than the viewport.

Headless Chromium against a real Daphne with some content (notifications, a broadcast, chat
messages, jobs), signed out, as alice and as admin. For each page: the document does not
scroll sideways, and no visible element reaches past the viewport's right edge (one inside a
scrolling wrapper that itself fits is fine: that is how wide tables are meant to fit). The
failure lists every offending page and element at once, so the owner of each sees theirs.

The walk over every page, with this check (``layout_problems``) and axe-core's, is
tests/test_pages_axe.py's (PAGES and the fixtures below); here, the checker's own test and
what else a page must do.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import Resolver404, resolve

from tests.project.conftest import browser_login, login
from tests.servers import DaphneServer, manage, prepare_database, project_env

pytestmark = pytest.mark.browser

WIDTHS = {"phone": {"width": 375, "height": 812}, "desktop": {"width": 1280, "height": 800}}
LIVE = "#live-state[data-state=live]"
WAIT_MS = 45000


@dataclass(frozen=True)
class Page:
    path: str  # "{job}" stands for the signed-in user's own job page
    status: int = 200
    live: bool = True  # a signed-in page goes live before it is checked


def console_page() -> list[Page]:
    """/console/ where the project has one (resolved here, with the project's own urls)."""
    try:
        resolve("/console/")
    except Resolver404:
        return []
    return [Page("/console/")]


def pages_for(user: str | None) -> list[Page]:
    if user is None:
        return [
            Page("/", live=False),
            Page("/accounts/login/", live=False),
            Page("/no-such-page/", 404, live=False),
        ]
    common = [
        Page("/"),
        Page("/notifications/"),
        Page("/notifications/htmx/"),
        Page("/chat/lobby/"),
        Page("/jobs/"),
        Page("{job}"),
    ]
    if user == "admin":
        return [*common, Page("/chat/staff/"), Page("/dashboard/"), *console_page()]
    return [*common, Page("/dashboard/", 403), Page("/no-such-page/", 404)]


USERS = [None, "alice", "admin"]


@pytest.fixture(scope="module")
def pages_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    """The project under Daphne with seeded users and some content on every page."""
    tmp = tmp_path_factory.mktemp("pages-site")
    env = project_env(f"sqlite:///{tmp / 'db.sqlite3'}", SSE_HEARTBEAT_SECONDS="1")
    prepare_database(env)
    with DaphneServer(env, log_path=tmp / "daphne.log") as server:
        yield server


@pytest.fixture(scope="module")
def demo_jobs(pages_site: DaphneServer) -> dict[str, str]:
    """The content every page shows; each user's job id."""
    return add_content(pages_site)


def add_content(server: DaphneServer) -> dict[str, str]:
    """Notifications, a broadcast, chat messages and a finished job per user; the job ids."""
    admin, alice = login(server.url, "admin"), login(server.url, "alice")
    try:
        for user in ("alice", "admin"):
            for title, body in [
                ("Build finished", "All 214 tests passed on main."),
                (
                    "A long title that has to wrap on a phone: release 2026.11.30 goes to production",
                    "",
                ),
                ("Unbroken", "https://example.com/" + "a-very-long-path-segment-" * 6),
            ]:
                answer = admin.post(
                    "/api/notifications/", json={"user": user, "title": title, "body": body, "url": "/jobs/"}
                )
                assert answer.status_code == 201, answer.text
        for client, body in [
            (alice, "Morning all"),
            (admin, "Deploy at noon; " + "x" * 90),
            (alice, "Sounds good, see you there."),
        ]:
            answer = client.post("/api/chat/lobby/messages/", json={"body": body})
            assert answer.status_code == 201, answer.text
        answer = admin.post(
            "/api/chat/staff/messages/", json={"body": "Staff only: the on-call rota is out."}
        )
        assert answer.status_code == 201, answer.text
        jobs = {}
        for user, client in (("alice", alice), ("admin", admin)):
            answer = client.post("/api/jobs/", json={"kind": "primes", "params": {"below": 100000}})
            assert answer.status_code == 201, answer.text
            jobs[user] = answer.json()["id"]
        broadcast = json.dumps(
            {"title": "Maintenance tonight", "body": "The demo restarts at 22:00 UTC for about a minute."}
        )
        manage(
            server.env,
            "shell",
            "-c",
            "import json; from notifications.models import Broadcast;"
            " from notifications.services import send_broadcast;"
            f" send_broadcast(Broadcast.objects.create(**json.loads({broadcast!r})))",
        )
        return jobs
    finally:
        admin.close()
        alice.close()


@pytest.fixture
def open_pages(browser: Any, pages_site: DaphneServer) -> Iterator[Callable[[str | None, str], Any]]:
    """open_pages(user, width): a page in a fresh context of that width, signed in as user."""
    contexts: list[Any] = []

    def open_(user: str | None, width: str) -> Any:
        context = browser.new_context(viewport=WIDTHS[width])
        contexts.append(context)
        page = context.new_page()
        if user is not None:
            browser_login(page, pages_site.url, user)
        return page

    yield open_
    for context in contexts:
        context.close()


def visit(
    page: Any, site: DaphneServer, jobs: dict[str, str], user: str | None, spec: Page
) -> tuple[str, list[str]]:
    """Goes to the page; its path and what is wrong with how it opened (status, never live)."""
    path = spec.path.replace("{job}", f"/jobs/{jobs[user]}/") if user else spec.path
    problems = []
    response = page.goto(site.url + path)
    if response is None or response.status != spec.status:
        problems.append(f"answered {response.status if response else None}, expected {spec.status}")
    if user is not None and spec.live:
        try:
            page.locator(LIVE).wait_for(timeout=WAIT_MS)
        except Exception:  # reported with the others; the layout is still checked
            problems.append("the live pill never showed 'live'")
    page.wait_for_load_state("load")
    return path, problems


# Elements reaching past the right edge, outermost first (an offender whose parent also
# overflows is left out: the parent is the one to fix). Inside a scrolling wrapper that
# itself fits, overflow is the wrapper's business.
OFFENDERS_JS = """
() => {
  const edge = window.innerWidth + 0.5;
  const describe = (el) => {
    let name = el.tagName.toLowerCase();
    if (el.id) name += "#" + el.id;
    for (const c of el.classList) name += "." + c;
    return name;
  };
  const path = (el) => {
    const parts = [];
    for (let a = el; a && a !== document.body && parts.length < 4; a = a.parentElement) {
      parts.unshift(describe(a));
    }
    return parts.join(" > ");
  };
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden";
  };
  const scrolledAway = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (["auto", "scroll", "hidden", "clip"].includes(getComputedStyle(a).overflowX)) {
        return a.getBoundingClientRect().right <= edge;
      }
    }
    return false;
  };
  const over = new Set();
  for (const el of document.body.querySelectorAll("*")) {
    if (visible(el) && el.getBoundingClientRect().right > edge && !scrolledAway(el)) over.add(el);
  }
  return [...over].filter((el) => !over.has(el.parentElement)).slice(0, 15).map(
    (el) => path(el) + " (right edge " + Math.round(el.getBoundingClientRect().right) + " px)"
  );
}
"""


def layout_problems(page: Any) -> list[str]:
    problems = []
    scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if scroll_width > inner_width:
        problems.append(f"scrolls sideways: document {scroll_width} px wide in a {inner_width} px viewport")
    problems += [f"wider than the viewport: {offender}" for offender in page.evaluate(OFFENDERS_JS)]
    return problems


def user_id(user: str | None) -> str:
    return user or "signed-out"


def test_the_check_sees_an_element_wider_than_a_phone(
    open_pages: Callable[[str | None, str], Any], pages_site: DaphneServer
) -> None:
    """The checker itself can fail: a 600 px box on the home page at 375 px is reported."""
    page = open_pages(None, "phone")
    page.goto(pages_site.url + "/")
    marker = f"too-wide-{uuid.uuid4().hex[:6]}"
    page.evaluate(
        "id => { const d = document.createElement('div'); d.id = id; d.style.width = '600px';"
        " d.textContent = 'x'; document.querySelector('main').append(d); }",
        marker,
    )
    problems = layout_problems(page)
    assert any("scrolls sideways" in p for p in problems), problems
    assert any(f"div#{marker}" in p for p in problems), problems


def test_keyboard_users_can_skip_to_the_content(
    open_pages: Callable[[str | None, str], Any], pages_site: DaphneServer
) -> None:
    """The first Tab reaches a visible "Skip to content" link, and following it moves focus
    into <main>, past the top bar."""
    page = open_pages("alice", "phone")
    page.goto(pages_site.url + "/notifications/")
    page.locator(LIVE).wait_for(timeout=WAIT_MS)
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "[document.activeElement.textContent, document.activeElement.getAttribute('href')]"
    )
    assert focused == ["Skip to content", "#main"], focused
    box = page.locator(".skip-link").bounding_box()
    assert box is not None and box["y"] >= 0 and box["x"] + box["width"] <= WIDTHS["phone"]["width"], box
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'main'", timeout=WAIT_MS)


def test_the_home_page_links_every_feature_and_sends_a_notification(
    open_pages: Callable[[str | None, str], Any], pages_site: DaphneServer
) -> None:
    """Signed in, the home page links each part of the demo, and its button sends the user a
    notification that comes back live on the page's own stream (the badge counts it)."""
    page = open_pages("admin", "phone")
    page.goto(pages_site.url + "/")
    page.locator(LIVE).wait_for(timeout=WAIT_MS)
    links = set(page.eval_on_selector_all("main a[href]", "els => els.map((a) => a.getAttribute('href'))"))
    wanted = {"/notifications/", "/notifications/htmx/", "/chat/lobby/", "/jobs/", "/dashboard/", "/admin/"}
    wanted |= {
        "/api/notifications/",
        "/api/chat/rooms/",
        "/api/jobs/kinds/",
        *(p.path for p in console_page()),
    }
    assert wanted <= links, f"missing: {sorted(wanted - links)}"

    before = int(page.locator("#unread-badge").get_attribute("data-count") or "0")
    page.evaluate("window.stayedOnThePage = true")
    page.get_by_role("button", name="Send me a notification").click()
    page.wait_for_function(
        "n => document.getElementById('unread-badge').dataset.count === n",
        arg=str(before + 1),
        timeout=WAIT_MS,
    )
    # The stream may bring the notification before the POST's answer says "Sent".
    page.wait_for_function(
        "() => document.getElementById('try-notification-status').textContent.startsWith('Sent')",
        timeout=WAIT_MS,
    )
    assert page.evaluate("window.stayedOnThePage === true")  # no reload: the count came on the stream
