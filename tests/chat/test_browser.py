"""The chat page in headless Chromium: two users live, presence, markup shown as text."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.chat import settings as chat_settings
from tests.project.conftest import browser_login
from tests.servers import DaphneServer

pytestmark = pytest.mark.browser

# Generous: the machine is shared, and a page needs a few round trips to go live.
LIVE = 30_000
# The documented bound for leaving the list (docs/chat.md): a closed page is announced as soon as
# the server sees the disconnect; even a server that never noticed would drop it after TTL + heartbeat.
LEAVE_BOUND = int(chat_settings.PRESENCE_BOUND_SECONDS * 1000)


@pytest.fixture
def contexts(browser: Any) -> Iterator[Any]:
    made: list[Any] = []

    def new_context() -> Any:
        context = browser.new_context(viewport={"width": 1100, "height": 720})
        made.append(context)
        return context

    yield new_context
    for context in made:
        context.close()


def _open_room(context: Any, site: DaphneServer, username: str, slug: str = "lobby") -> Page:
    page = context.new_page()
    browser_login(page, site.url, username)
    page.goto(f"{site.url}/chat/{slug}/")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live", timeout=LIVE)
    # Any later reload would lose this mark.
    page.evaluate("window.__sameDocument = true")
    return page


def _send(page: Page, text: str) -> None:
    page.fill("#chat-input", text)
    page.click("#chat-form button[type=submit]")


def _message(page: Page, text: str) -> Any:
    return page.locator("#chat-messages .chat-text", has_text=text)


def test_two_users_chat_live_and_see_each_other(
    chat_site: DaphneServer, contexts: Any, docs_dir: Path
) -> None:
    alice = _open_room(contexts(), chat_site, "alice")
    bob = _open_room(contexts(), chat_site, "bob")
    for page in (alice, bob):
        for name in ("alice", "bob"):
            expect(page.locator(f'#chat-presence li[data-user="{name}"]')).to_have_count(1, timeout=LIVE)

    hello = f"hello bob {uuid.uuid4().hex[:6]}"
    _send(alice, hello)
    expect(_message(bob, hello)).to_have_count(1, timeout=LIVE)
    expect(_message(alice, hello)).to_have_count(1, timeout=LIVE)
    expect(alice.locator("#chat-input")).to_have_value("")

    reply = f"hi alice {uuid.uuid4().hex[:6]}"
    _send(bob, reply)
    expect(_message(alice, reply)).to_have_count(1, timeout=LIVE)
    expect(_message(bob, reply)).to_have_count(1, timeout=LIVE)
    # Author shown, order kept, and neither page reloaded.
    last_two = alice.locator("#chat-messages li").evaluate_all(
        "items => items.slice(-2).map(li => [li.dataset.user, li.querySelector('.chat-text').textContent])"
    )
    assert last_two == [["alice", hello], ["bob", reply]]
    assert alice.evaluate("window.__sameDocument") is True
    assert bob.evaluate("window.__sameDocument") is True

    alice.screenshot(path=str(docs_dir / "chat.png"))

    bob.close()
    expect(alice.locator('#chat-presence li[data-user="bob"]')).to_have_count(0, timeout=LEAVE_BOUND)
    expect(alice.locator('#chat-presence li[data-user="alice"]')).to_have_count(1)
    expect(alice.locator("#chat-presence-count")).to_have_text("1")


def test_markup_in_a_message_is_shown_as_text(chat_site: DaphneServer, contexts: Any) -> None:
    alice = _open_room(contexts(), chat_site, "alice")
    bob = _open_room(contexts(), chat_site, "bob")
    dialogs: list[str] = []
    for page in (alice, bob):
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    attack = "<img src=x onerror=alert(1)>"
    marker = uuid.uuid4().hex[:6]
    _send(alice, f"{attack} {marker}")
    for page in (alice, bob):
        shown = _message(page, marker)
        expect(shown).to_have_count(1, timeout=LIVE)
        expect(shown).to_have_text(f"{attack} {marker}")
        # No element was made from the text, so nothing can fire onerror.
        assert page.locator("#chat-messages img").count() == 0

    # The server-rendered history escapes it too.
    bob.reload()
    expect(_message(bob, marker)).to_have_text(f"{attack} {marker}")
    assert bob.locator("#chat-messages img").count() == 0
    assert dialogs == []


def test_form_works_without_javascript(chat_site: DaphneServer, browser: Any) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        browser_login(page, chat_site.url, "bob")
        page.goto(f"{chat_site.url}/chat/lobby/")
        text = f"no script here {uuid.uuid4().hex[:6]}"
        page.fill("#chat-input", text)
        page.click("#chat-form button[type=submit]")
        page.wait_for_url(f"{chat_site.url}/chat/lobby/")
        expect(_message(page, text)).to_have_count(1)
    finally:
        context.close()
