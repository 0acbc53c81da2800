"""The room page's newer parts in headless Chromium against the real server, several users
at once: loading older messages, day separators and local times, own messages, the typing
indicator, unread counts of other rooms, the rate-limit countdown, and the 375 px layout."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.chat.conftest import create_room, create_users, seed_history
from tests.project.conftest import browser_login, login
from tests.servers import DaphneServer

pytestmark = pytest.mark.browser

LIVE = 30_000  # the machine is shared: generous waits for DOM states, never timing assertions
ZONE = "America/New_York"
PAGE = 50


@pytest.fixture(scope="module")
def people(chat_site: DaphneServer) -> tuple[str, str]:
    """dora posts where a test needs someone else's messages; erin uses up her rate limit.
    Neither spends alice's or bob's (the limit counts all of a user's messages in the session)."""
    create_users(chat_site, "dora", "erin")
    return "dora", "erin"


@pytest.fixture(scope="module")
def old_room(chat_site: DaphneServer) -> list[int]:
    """60 messages: 30 three days ago, 15 yesterday, 15 today."""
    return seed_history(chat_site, "older", [3] * 30 + [1] * 15 + [0] * 15)


@pytest.fixture
def contexts(browser: Any) -> Iterator[Any]:
    made: list[Any] = []

    def new_context(width: int = 1100, height: int = 720) -> Any:
        # en-GB: a 24-hour clock, so a time can be compared with strftime's.
        context = browser.new_context(
            viewport={"width": width, "height": height}, timezone_id=ZONE, locale="en-GB"
        )
        made.append(context)
        return context

    yield new_context
    for context in made:
        context.close()


def _open_room(context: Any, site: DaphneServer, username: str, slug: str) -> Page:
    page = context.new_page()
    browser_login(page, site.url, username)
    page.goto(f"{site.url}/chat/{slug}/")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live", timeout=LIVE)
    return page


def _message_ids(page: Page) -> list[int]:
    return [
        int(i)
        for i in page.locator("#chat-messages li.chat-message").evaluate_all(
            "l => l.map(li => li.dataset.id)"
        )
    ]


def test_load_older_prepends_the_older_page_and_keeps_the_place(
    chat_site: DaphneServer, contexts: Any, old_room: list[int]
) -> None:
    page = _open_room(contexts(), chat_site, "alice", "older")
    assert _message_ids(page) == old_room[-PAGE:]
    days = page.locator("#chat-messages li.chat-day")
    expect(days).to_have_count(3)
    labels = days.all_text_contents()
    assert labels[1:] == ["Yesterday", "Today"]
    assert labels[0] not in ("Yesterday", "Today") and re.search(r"\d", labels[0])

    # Times are the browser's (New York), not the server's UTC fallback.
    first_time = page.locator("#chat-messages li.chat-message time").first
    stamp = datetime.fromisoformat(first_time.get_attribute("datetime") or "")
    local = stamp.astimezone(ZoneInfo(ZONE))
    shown = re.fullmatch(r"(\d{1,2}):(\d\d)", first_time.inner_text())
    assert shown, first_time.inner_text()
    assert (int(shown.group(1)), int(shown.group(2))) == (local.hour, local.minute)

    button = page.get_by_role("button", name="Load older messages")
    expect(button).to_be_visible()
    # Reading near the top of the list (not at it: scrolling there loads the older page by
    # itself, tests/chat/test_room_scroll.py): that message must stay where it is on screen.
    page.eval_on_selector("#chat-messages", "list => { list.scrollTop = 120; }")
    anchor = page.locator(f'#chat-messages li[data-id="{old_room[-PAGE]}"]')
    where = "li => li.getBoundingClientRect().top"
    before = anchor.evaluate(where)
    button.click()
    expect(page.locator("#chat-messages li.chat-message")).to_have_count(len(old_room), timeout=LIVE)
    assert _message_ids(page) == old_room
    assert abs(anchor.evaluate(where) - before) < 2
    expect(button).to_be_hidden()  # nothing older is left
    expect(page.locator("#chat-start")).to_have_text("The conversation starts here.")
    # The older page lands on the day already shown: still one separator per day.
    expect(days).to_have_count(3)
    expect(page.locator("#chat-messages li.chat-message").first.locator(".chat-text")).to_have_text(
        "history older 0"
    )
    expect(page.locator("#chat-status")).to_have_text("10 older messages loaded.")


def test_typing_indicator_and_own_messages(chat_site: DaphneServer, contexts: Any) -> None:
    slug = f"typing-{uuid.uuid4().hex[:6]}"
    create_room(chat_site, slug, "Typing")
    alice = _open_room(contexts(), chat_site, "alice", slug)
    bob_context = contexts()
    bob_context.clock.install()  # bob's page's timers on Playwright's clock (jumped below)
    bob = _open_room(bob_context, chat_site, "bob", slug)
    # Everything bob's indicator shows, in order: a short visit cannot slip between two looks.
    bob.evaluate(
        """() => {
          const box = document.getElementById("chat-typing");
          window.__typing = [box.textContent];
          new MutationObserver(() => window.__typing.push(box.textContent))
            .observe(box, {childList: true, characterData: true, subtree: true});
        }"""
    )
    expect(bob.locator("#chat-typing")).to_have_attribute("aria-live", "polite")
    alice.locator("#chat-input").press_sequentially("hello b", delay=50)
    bob.wait_for_function("window.__typing.includes('alice is typing…')", timeout=LIVE)
    # alice does not see herself typing.
    assert alice.locator("#chat-typing").inner_text() == ""
    # She stopped: it goes away by itself, 5 s after her last signal (jumped to on bob's clock).
    bob.clock.fast_forward(5000)
    expect(bob.locator("#chat-typing")).to_have_text("", timeout=LIVE)

    text = f"own {uuid.uuid4().hex[:6]}"
    alice.fill("#chat-input", text)
    alice.click("#chat-form button[type=submit]")
    mine = alice.locator("#chat-messages li.chat-message", has_text=text)
    theirs = bob.locator("#chat-messages li.chat-message", has_text=text)
    expect(mine).to_have_count(1, timeout=LIVE)
    expect(theirs).to_have_count(1, timeout=LIVE)
    expect(mine).to_have_class(re.compile(r"\bchat-message--own\b"))
    expect(mine.locator(".chat-author")).to_have_text("alice (you)")
    expect(theirs).not_to_have_class(re.compile(r"\bchat-message--own\b"))
    expect(theirs.locator(".chat-author")).to_have_text("alice")
    # Styled differently, not only classed.
    own_bg = mine.evaluate("li => getComputedStyle(li).backgroundColor")
    other_bg = theirs.evaluate("li => getComputedStyle(li).backgroundColor")
    assert own_bg != other_bg
    # Own messages are marked on the server-rendered page too.
    alice.reload()
    expect(alice.locator("#chat-messages li.chat-message--own", has_text=text)).to_have_count(1)


def test_unread_count_of_another_room_rises_when_someone_posts_there(
    chat_site: DaphneServer, contexts: Any, people: tuple[str, str]
) -> None:
    slug = f"news-{uuid.uuid4().hex[:6]}"
    create_room(chat_site, slug, "News")
    bob = _open_room(contexts(), chat_site, "bob", "lobby")
    expect(bob.locator('#chat-presence li[data-user="bob"]')).to_have_count(1, timeout=LIVE)
    item = bob.locator(f'#chat-room-list li[data-room="{slug}"]')
    badge = item.locator(".chat-unread")
    expect(badge).to_be_hidden()

    dora = login(chat_site.url, people[0])
    try:
        for n, expected in ((1, "1 unread"), (2, "2 unread")):
            posted = dora.post(f"/api/chat/{slug}/messages/", json={"body": f"news {n}"})
            assert posted.status_code == 201, posted.text
            expect(badge).to_be_visible(timeout=LIVE)
            expect(badge).to_have_text(expected, timeout=LIVE)
    finally:
        dora.close()
    # The room bob is in has no count; visiting the other room clears its count.
    expect(bob.locator('#chat-room-list li[data-room="lobby"] .chat-unread')).to_have_count(0)
    item.get_by_role("link").click()
    expect(bob.locator("#live-state")).to_have_attribute("data-state", "live", timeout=LIVE)
    bob.goto(f"{chat_site.url}/chat/lobby/")
    expect(bob.locator(f'#chat-room-list li[data-room="{slug}"] .chat-unread')).to_be_hidden()


def test_rate_limited_sender_sees_a_countdown(
    chat_site: DaphneServer, contexts: Any, people: tuple[str, str], sandbox: str
) -> None:
    erin = login(chat_site.url, people[1])
    try:
        for n in range(20):  # CHAT_RATE_LIMIT_MESSAGES in tests/chat/settings.py
            assert erin.post(f"/api/chat/{sandbox}/messages/", json={"body": f"erin {n}"}).status_code == 201
    finally:
        erin.close()
    page = _open_room(contexts(), chat_site, people[1], sandbox)
    page.fill("#chat-input", "one too many")
    page.click("#chat-form button[type=submit]")
    wait = page.locator("#chat-wait")
    expect(wait).to_have_text(re.compile(r"^You can send again in \d+ min \d+ s$"), timeout=LIVE)
    expect(page.locator("#chat-error")).to_have_text("You are sending messages too fast.")
    expect(page.locator("#chat-form button[type=submit]")).to_be_disabled()
    first = wait.inner_text()
    # It counts down.
    page.wait_for_function(
        "text => document.getElementById('chat-wait').textContent !== text", arg=first, timeout=LIVE
    )
    assert "Expected available" not in page.locator("#chat").inner_text()


def test_countdown_ends_and_sending_works_again(chat_site: DaphneServer, contexts: Any, sandbox: str) -> None:
    """The end of a wait, which the test server's hour-long window never reaches: the first
    post's answer is replaced by a 429 with Retry-After: 2; the next one goes to the server."""
    page = _open_room(contexts(), chat_site, "bob", sandbox)
    refused: list[str] = []

    def refuse_once(route: Any) -> None:
        if route.request.method == "POST" and not refused:
            refused.append(route.request.url)
            route.fulfill(
                status=429,
                headers={"Retry-After": "2", "Content-Type": "application/json"},
                body='{"detail": "You are sending messages too fast."}',
            )
        else:
            route.continue_()

    page.route("**/api/chat/*/messages/", refuse_once)
    text = f"after the wait {uuid.uuid4().hex[:6]}"
    page.fill("#chat-input", text)
    page.click("#chat-form button[type=submit]")
    expect(page.locator("#chat-wait")).to_have_text(
        re.compile(r"^You can send again in [12] s$"), timeout=LIVE
    )
    send = page.locator("#chat-form button[type=submit]")
    expect(send).to_be_disabled()
    expect(send).to_be_enabled(timeout=LIVE)
    expect(page.locator("#chat-wait")).to_be_hidden()
    expect(page.locator("#chat-error")).to_be_hidden()
    send.click()
    expect(page.locator("#chat-messages .chat-text", has_text=text)).to_have_count(1, timeout=LIVE)


def test_room_page_fits_375_px(
    chat_site: DaphneServer, contexts: Any, old_room: list[int], docs_dir: Path
) -> None:
    page = _open_room(contexts(375, 740), chat_site, "alice", "older")
    expect(page.get_by_role("button", name="Load older messages")).to_be_visible()
    page.screenshot(path=str(docs_dir / "chat-375.png"), full_page=True)
    widest = page.evaluate(
        """() => Math.max(...Array.from(document.querySelectorAll('#chat, #chat *'))
             .filter(e => e.getClientRects().length)
             .map(e => e.getBoundingClientRect().right))"""
    )
    assert widest <= 375, f"something in the chat section reaches {widest} px"
    assert page.evaluate("document.getElementById('chat').scrollWidth") <= page.evaluate(
        "document.getElementById('chat').clientWidth"
    )


AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@pytest.mark.skipif(not AXE.exists(), reason="axe-core not installed: npm ci at the repository root")
def test_room_page_has_no_serious_axe_violation(
    chat_site: DaphneServer, contexts: Any, old_room: list[int], people: tuple[str, str]
) -> None:
    """With what this page adds on screen: separators, the older page, a badge, typing."""
    slug = f"axe-{uuid.uuid4().hex[:6]}"
    create_room(chat_site, slug, "Axe")
    page = _open_room(contexts(), chat_site, "alice", "older")
    expect(page.locator('#chat-presence li[data-user="alice"]')).to_have_count(1, timeout=LIVE)
    page.get_by_role("button", name="Load older messages").click()
    expect(page.locator("#chat-start")).to_be_visible(timeout=LIVE)
    dora = login(chat_site.url, people[0])
    try:
        assert dora.post(f"/api/chat/{slug}/messages/", json={"body": "for the badge"}).status_code == 201
        badge = page.locator(f'#chat-room-list li[data-room="{slug}"] .chat-unread')
        expect(badge).to_be_visible(timeout=LIVE)
        assert dora.post("/api/chat/older/typing/").status_code == 204
        expect(page.locator("#chat-typing")).to_have_text("dora is typing…", timeout=LIVE)
    finally:
        dora.close()
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("() => axe.run(document.getElementById('chat'), {resultTypes: ['violations']})")
    blocking = [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not blocking, "\n".join(blocking)
