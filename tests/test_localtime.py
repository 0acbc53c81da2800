"""Times show in the browser's time zone: a Chromium in New York sees New York wall times.

The server renders every time as <time datetime="...+00:00"> with a UTC fallback; the site's
localtime.js rewrites it. A notification stored at 04:39 UTC on 30 November (23:39 the day
before in New York) must read "Sun, Nov 29, 11:39 PM", both when the page renders it and when
one arrives live on the stream.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.project.conftest import browser_login, login
from tests.servers import DaphneServer, manage, prepare_database, project_env

pytestmark = pytest.mark.browser

NEW_YORK = ZoneInfo("America/New_York")
LIVE = "#live-state[data-state=live]"
WAIT_MS = 45000
# Intl puts a narrow no-break space before AM/PM: compare with plain spaces.
SHOWS = "([el, text]) => el.textContent.replace(/[\\u202f\\u00a0]/g, ' ').startsWith(text)"
SHOWS_RELATIVE = (
    "([el, text]) => { const shown = el.textContent.replace(/[\\u202f\\u00a0]/g, ' ');"
    " return shown.startsWith(text) && /(just now|ago)$/.test(shown); }"
)


@pytest.fixture(scope="module")
def time_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    tmp = tmp_path_factory.mktemp("time-site")
    env = project_env(f"sqlite:///{tmp / 'db.sqlite3'}", SSE_HEARTBEAT_SECONDS="1")
    prepare_database(env)
    with DaphneServer(env, log_path=tmp / "daphne.log") as server:
        yield server


@pytest.fixture
def staff(time_site: DaphneServer) -> Iterator[httpx.Client]:
    client = login(time_site.url, "admin")
    yield client
    client.close()


def new_york_text(instant: datetime) -> str:
    """What localtime.js writes for a time in an en-US browser in New York (this year)."""
    local = instant.astimezone(NEW_YORK)
    return f"{local:%a, %b} {local.day}, {local.hour % 12 or 12}:{local:%M %p}"


def notify_alice(staff: httpx.Client, title: str) -> dict[str, Any]:
    answer = staff.post("/api/notifications/", json={"user": "alice", "title": title})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_times_show_in_the_browsers_time_zone(
    browser: Any, time_site: DaphneServer, staff: httpx.Client
) -> None:
    title = f"Stored at a known instant {uuid.uuid4().hex[:6]}"
    stored = notify_alice(staff, title)
    instant = datetime(datetime.now(UTC).year, 11, 30, 4, 39, tzinfo=UTC)
    manage(
        time_site.env,
        "shell",
        "-c",
        "from datetime import datetime; from notifications.models import Notification;"
        f" Notification.objects.filter(pk={int(stored['id'])})"
        f".update(created=datetime.fromisoformat({instant.isoformat()!r}))",
    )

    context = browser.new_context(timezone_id="America/New_York", locale="en-US")
    try:
        page = context.new_page()
        browser_login(page, time_site.url, "alice")
        page.goto(time_site.url + "/notifications/")
        page.locator(LIVE).wait_for(timeout=WAIT_MS)

        rendered = page.locator("#notification-list .notification", has_text=title).locator("time")
        expected = new_york_text(instant)
        assert "Nov 29, 11:39 PM" in expected, expected  # not the UTC "Nov 30, 4:39 AM"
        page.wait_for_function(SHOWS, arg=[rendered.element_handle(), expected], timeout=WAIT_MS)
        assert rendered.get_attribute("datetime").startswith(f"{instant.year}-11-30T04:39:00")
        assert "EST" in (rendered.get_attribute("title") or ""), rendered.get_attribute("title")

        # One arriving on the stream is rewritten too, with its own relative label.
        live_title = f"Arrives live {uuid.uuid4().hex[:6]}"
        sent = notify_alice(staff, live_title)
        arrived = page.locator("#notification-list .notification", has_text=live_title).locator("time")
        arrived.wait_for(timeout=WAIT_MS)
        expected_live = new_york_text(datetime.fromisoformat(sent["created"].replace("Z", "+00:00")))
        page.wait_for_function(SHOWS_RELATIVE, arg=[arrived.element_handle(), expected_live], timeout=WAIT_MS)
    finally:
        context.close()
