"""Reading back in a room (issue 28, item 8), in headless Chromium at 1280 and 375 px: the day
of the messages on screen stays at the top of the list while it scrolls, and scrolling up to
the top loads the older messages (the "Load older messages" button stays as the fallback)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.chat.conftest import seed_history
from tests.project.conftest import browser_login
from tests.servers import DaphneServer

pytestmark = pytest.mark.browser

LIVE = 30_000
WIDTHS = [1280, 375]


@pytest.fixture
def contexts(browser: Any) -> Iterator[Any]:
    made: list[Any] = []

    def new_context(width: int) -> Any:
        context = browser.new_context(viewport={"width": width, "height": 800}, locale="en-GB")
        made.append(context)
        return context

    yield new_context
    for context in made:
        context.close()


def open_room(context: Any, site: DaphneServer, slug: str) -> Page:
    page = context.new_page()
    browser_login(page, site.url, "alice")
    page.goto(f"{site.url}/chat/{slug}/")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live", timeout=LIVE)
    return page


@pytest.mark.parametrize("width", WIDTHS)
def test_the_day_stays_on_top_and_scrolling_up_loads_older(
    chat_site: DaphneServer, contexts: Any, width: int, docs_dir: Path
) -> None:
    slug = f"scroll-{uuid.uuid4().hex[:6]}"
    # 70 messages: 30 three days ago, 20 yesterday, 20 today; the page shows the last 50.
    ids = seed_history(chat_site, slug, [3] * 30 + [1] * 20 + [0] * 20)
    page = open_room(contexts(width), chat_site, slug)
    messages = page.locator("#chat-messages li.chat-message")
    expect(messages).to_have_count(50)
    expect(page.get_by_role("button", name="Load older messages")).to_be_visible()

    # Yesterday's tenth message at the top of the list: yesterday's heading is still on top.
    target = page.locator(f'#chat-messages li[data-id="{ids[39]}"]')
    page.eval_on_selector(
        "#chat-messages",
        "(list, id) => { const li = list.querySelector('li[data-id=\"' + id + '\"]');"
        " list.scrollTop += li.getBoundingClientRect().top - list.getBoundingClientRect().top; }",
        ids[39],
    )
    expect(target).to_be_visible()
    on_top = page.eval_on_selector(
        "#chat-messages",
        """list => {
          const box = list.getBoundingClientRect();
          const el = document.elementFromPoint(box.left + box.width / 2, box.top + 16);
          const day = el && el.closest('li.chat-day');
          return day ? day.textContent : null;
        }""",
    )
    assert on_top == "Yesterday", on_top
    page.screenshot(path=str(docs_dir / f"chat-day-header-{width}.png"))

    # Up to the top: the older page comes without the button.
    page.eval_on_selector("#chat-messages", "list => { list.scrollTop = 0; }")
    expect(messages).to_have_count(70, timeout=LIVE)
    expect(page.locator("#chat-start")).to_have_text("The conversation starts here.")
    assert [int(i) for i in messages.evaluate_all("l => l.map(li => li.dataset.id)")] == ids
