"""Issue 28 items 2, 3, 7 and 8 on /jobs/ in headless Chromium at 1280 and 375 px: a started
job is shown (scrolled to, focused), focus stays in the job after Cancel, status pills never
break mid-word, params read by their labels, a failed sum says how far it got, "Run again"
is named as it reads, and the CSV report is named in the viewer's time zone."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.jobs.conftest import cancel_all
from tests.project.conftest import browser_login
from tests.servers import DaphneServer

pytestmark = pytest.mark.browser

WIDTHS = {"1280": {"width": 1280, "height": 800}, "375": {"width": 375, "height": 740}}
ZONE = "America/New_York"
FOCUSED = "s => document.activeElement !== null && document.activeElement.matches(s)"
NEW_ROW = (
    "known => [...document.querySelectorAll('tr.job-row')].map(r => r.dataset.job)"
    ".find(id => !known.includes(id)) || null"
)


def open_jobs(browser: Any, site: DaphneServer, user: str, viewport: dict[str, int]) -> tuple[Any, Any]:
    context = browser.new_context(viewport=viewport, timezone_id=ZONE)
    page = context.new_page()
    browser_login(page, site.url, user)
    page.goto(f"{site.url}/jobs/")
    page.locator("#live-state[data-state=live]").wait_for(timeout=30000)
    return context, page


def known_rows(page: Any) -> list[str]:
    return page.evaluate("[...document.querySelectorAll('tr.job-row')].map(r => r.dataset.job)")


def in_viewport(page: Any, selector: str) -> bool:
    return page.evaluate(
        """s => { const r = document.querySelector(s).getBoundingClientRect();
                  return r.top >= 0 && r.bottom <= window.innerHeight; }""",
        selector,
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_a_started_job_is_shown_and_focus_stays_in_it(
    browser: Any, jobs_site: DaphneServer, users: Callable[[str], httpx.Client], docs_dir: Path, width: str
) -> None:
    bob = users("bob")
    context, page = open_jobs(browser, jobs_site, "bob", WIDTHS[width])
    try:
        form = page.locator("form.job-form[data-kind=steps]")
        form.locator("input[name=steps-steps]").fill("60")
        form.locator("input[name=steps-seconds_per_step]").fill("1")
        known = known_rows(page)
        form.locator("button[type=submit]").click()
        job_id = page.wait_for_function(NEW_ROW, arg=known, timeout=30000).json_value()
        row = f"#job-{job_id}"
        # Focus on the new job's link, the row on screen, and a status line saying where it is.
        page.wait_for_function(FOCUSED, arg=f"{row} a.kind", timeout=30000)
        assert in_viewport(page, row)
        assert "Started Slow steps" in page.locator("#job-started").inner_text()
        # Params by their labels, not raw keys.
        params = page.locator(f"{row} .params").inner_text()
        assert "Seconds per step: 1" in params and "seconds_per_step" not in params

        # Cancel with the keyboard: focus moves to "Run again" of the same job, not to <body>.
        page.locator(f"{row}[data-status=running]").wait_for(timeout=60000)
        page.locator(f"{row} .cancel-form button").focus()
        page.keyboard.press("Enter")
        page.locator(f"{row}[data-status=cancelled]").wait_for(timeout=30000)
        page.wait_for_function(FOCUSED, arg=f"{row} .run-again", timeout=30000)
        # axe's label-content-name-mismatch: the name starts with the words the button shows.
        for button in page.locator(".run-again").all():
            name = button.get_attribute("aria-label") or ""
            assert name.startswith("Run again"), name
        # The status pill on one line ("cancelled", not "cancell|ed").
        pill = page.locator(f"{row} .job-status")
        assert pill.evaluate("el => getComputedStyle(el).whiteSpace") == "nowrap"
        assert pill.evaluate("el => el.getClientRects().length") == 1
        box = pill.bounding_box()
        line = pill.evaluate("el => parseFloat(getComputedStyle(el).lineHeight) || el.offsetHeight")
        assert box is not None and box["height"] < 2 * line + 4, box
        page.screenshot(path=str(docs_dir / f"jobs-started-{width}.png"))
    finally:
        context.close()
        cancel_all(bob)


@pytest.mark.parametrize("width", WIDTHS)
def test_failed_sum_says_how_far_it_got_and_report_is_named_in_the_viewers_zone(
    browser: Any, jobs_site: DaphneServer, users: Callable[[str], httpx.Client], width: str
) -> None:
    context, page = open_jobs(browser, jobs_site, "bob", WIDTHS[width])
    try:
        form = page.locator("form.job-form[data-kind=column_sum]")
        form.locator("textarea[name=column_sum-csv]").fill("item,amount\na,1\nb,2\nc,abc\nd,4\n")
        form.locator("input[name=column_sum-column]").fill("amount")
        known = known_rows(page)
        form.locator("button[type=submit]").click()
        job_id = page.wait_for_function(NEW_ROW, arg=known, timeout=30000).json_value()
        row = page.locator(f"#job-{job_id}[data-status=failed]")
        row.wait_for(timeout=60000)
        assert "row 4: 'abc'" in row.locator(".result").inner_text()
        page.wait_for_function(
            "id => document.querySelector('#job-' + id + ' .message').textContent.includes('2 of 4 rows')",
            arg=job_id,
            timeout=30000,
        )

        # The CSV report's file name: the time it was built in the viewer's zone (New York here).
        report = page.locator("form.job-form[data-kind=report]")
        known = known_rows(page)
        report.locator("button[type=submit]").click()
        report_id = page.wait_for_function(NEW_ROW, arg=known, timeout=30000).json_value()
        link = page.locator(f"#job-{report_id} .result a.download")
        link.wait_for(timeout=60000)
        match = re.search(r"jobs-(\d{8}-\d{6})\.csv", link.inner_text())
        assert match, link.inner_text()
        stamp = datetime.strptime(match.group(1), "%Y%m%d-%H%M%S")
        local_now = datetime.now(ZoneInfo(ZONE)).replace(tzinfo=None)
        assert abs((local_now - stamp).total_seconds()) < 600, (stamp, local_now)
    finally:
        context.close()
