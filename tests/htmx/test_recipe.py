"""docs/htmx.md's recipe, run from the doc: its page (htmx 2, and htmx 4 with the doc's
line), its fragment template and its publisher, in Chromium against Daphne."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.notifications.helpers import shell
from tests.project.conftest import browser_login
from tests.servers import DaphneServer

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=window.__xss=1>"


@pytest.mark.parametrize("version", ["2", "2-ext", "4"])
def test_recipe_page_swaps_in_what_publish_html_sends(
    version: str, browser: Any, htmx_site: DaphneServer
) -> None:
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # htmx-ext-sse says it is connected with an htmx:sseOpen event; sse-htmx.js with an attribute.
    page.add_init_script("document.addEventListener('htmx:sseOpen', () => { window.sseOpen = true; })")
    browser_login(page, htmx_site.url, "alice")
    page.goto(f"{htmx_site.url}/news/?htmx={version}")
    if version == "2-ext":
        page.wait_for_function("window.sseOpen === true", timeout=60000)
    else:
        page.locator("#news-stream[data-sse-state=live]").wait_for(state="attached", timeout=60000)
    assert page.evaluate("htmx.version").split(".")[0] == version[0]

    ident = uuid.uuid4().hex[:8]
    for n, title in enumerate([f"first {ident}", f"{XSS} {ident}"]):
        item = {"id": f"{ident}-{n}", "title": title, "body": "line one\nline two"}
        shell(htmx_site.env, f"import news\nnews.publish_item({json.dumps(item)})")
    page.locator(f'#news .news-item[data-id="{ident}-1"]').wait_for(timeout=60000)

    items = page.locator("#news .news-item")
    assert items.count() == 2
    assert items.nth(0).locator("strong").inner_text() == f"{XSS} {ident}"  # afterbegin: newest first
    assert items.nth(1).locator("strong").inner_text() == f"first {ident}"
    assert page.locator("#news img").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert errors == []
    context.close()
