"""The browser client (sse/static/sse/sse.js) in headless Chromium against a real Daphne."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.project.conftest import browser_login
from tests.servers import DaphneServer, manage, prepare_database, project_env

pytestmark = pytest.mark.browser


@pytest.fixture
def own_site(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = project_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", SSE_HEARTBEAT_SECONDS="1")
    prepare_database(env)
    server = DaphneServer(env, log_path=tmp_path / "daphne.log")
    server.start()
    yield server
    server.stop()


def publish(server: DaphneServer, title: str) -> str:
    out = manage(server.env, "sse_publish", "broadcast", f'{{"title": "{title}"}}', "--event", "broadcast")
    return out.stdout.strip()


def test_page_receives_events_shows_state_and_resumes_after_restart(browser, own_site: DaphneServer) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        browser_login(page, own_site.url, "alice")
        state = page.locator("#live-state")
        state.and_(page.locator("[data-state=live]")).wait_for(timeout=15000)
        assert state.inner_text() == "live"

        publish(own_site, "first")
        page.locator("#events li", has_text="first").wait_for(timeout=10000)

        own_site.stop()
        page.locator("#live-state[data-state=reconnecting]").wait_for(timeout=15000)
        # Published while the server is down: the log keeps it for the resume.
        publish(own_site, "while-down")
        own_site.start()
        page.locator("#live-state[data-state=live]").wait_for(timeout=30000)
        page.locator("#events li", has_text="while-down").wait_for(timeout=15000)
        publish(own_site, "after")
        page.locator("#events li", has_text="after").wait_for(timeout=10000)
        texts = page.locator("#events li").all_inner_texts()
        assert [t for t in texts if "first" in t or "while-down" in t or "after" in t] == [
            'broadcast: {"title":"after"}',
            'broadcast: {"title":"while-down"}',
            'broadcast: {"title":"first"}',
        ]
    finally:
        context.close()
