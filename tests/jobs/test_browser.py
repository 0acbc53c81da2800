"""Done-when item 7: a job started from /jobs/ in headless Chromium fills its bar live."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.project.conftest import browser_login
from tests.servers import DaphneServer

pytestmark = pytest.mark.browser

# Records every percent a job row shows, so the test sees the bar move, not just its end.
WATCH_ROWS = """
window.seenPercents = {};
new MutationObserver((changes) => {
  for (const c of changes) {
    const row = c.target.closest && c.target.closest(".job-row");
    if (row) (window.seenPercents[row.dataset.job] ||= []).push(Number(row.dataset.percent));
  }
}).observe(document.getElementById("job-rows"), {subtree: true, childList: true, attributes: true,
                                                 attributeFilter: ["data-percent"]});
"""


# The id of a job row that is not in the list ``known`` (null until one shows).
NEW_ROW = (
    "known => [...document.querySelectorAll('tr.job-row')].map(r => r.dataset.job)"
    ".find(id => !known.includes(id)) || null"
)


def test_job_started_from_the_list_page_moves_to_100_and_shows_its_result(
    browser, jobs_site: DaphneServer, users: Callable[[str], httpx.Client], docs_dir: Path
) -> None:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    try:
        browser_login(page, jobs_site.url, "alice")
        page.goto(f"{jobs_site.url}/jobs/")
        page.locator("#live-state[data-state=live]").wait_for(timeout=20000)
        page.evaluate(WATCH_ROWS)
        before = page.locator("tr.job-row").count()

        # A bad value first: the error appears next to the field, nothing starts.
        form = page.locator("form.job-form[data-kind=primes]")
        form.locator("input[name=primes-below]").fill("1")
        form.locator("button[type=submit]").click()
        form.locator('ul[data-errors-for="below"] li', has_text="greater than or equal to 2").wait_for()
        assert page.locator("tr.job-row").count() == before

        form.locator("input[name=primes-below]").fill("100000000")
        form.locator("button[type=submit]").click()
        page.wait_for_function(f"document.querySelectorAll('tr.job-row').length > {before}", timeout=20000)
        row = page.locator("tr.job-row").first
        job_id = row.get_attribute("data-job")
        assert job_id

        page.locator(f"#job-{job_id}[data-status=succeeded]").wait_for(timeout=120000)
        assert row.locator(".percent").inner_text() == "100%"
        assert row.locator("progress").evaluate("p => p.value") == 100
        assert row.locator(".result").inner_text().strip() == "count: 5,761,455"
        row.locator("a.kind", has_text="primes").wait_for(timeout=10000)
        seen = page.evaluate(f"window.seenPercents[{job_id!r}] || []")
        assert any(0 < p < 100 for p in seen), f"the bar should move through values below 100, saw {seen}"
        assert seen == sorted(seen) and seen[-1] == 100
        assert page.url == f"{jobs_site.url}/jobs/", "no reload, no navigation"

        # A report next to it: its result is a download link, again without reload. (Its own
        # row's: alice may have reports of earlier tests listed already.)
        report = page.locator("form.job-form[data-kind=report]")
        known = page.evaluate("[...document.querySelectorAll('tr.job-row')].map(r => r.dataset.job)")
        report.locator("button[type=submit]").click()
        report_id = page.wait_for_function(NEW_ROW, arg=known, timeout=20000).json_value()
        link = page.locator(f"#job-{report_id} .result a.download")
        link.wait_for(timeout=60000)
        assert link.get_attribute("href").endswith("/download/")

        # A slow `steps` job, for the picture and the job's own page: 120 steps of 5 s run ten
        # minutes, so it is surely still running whatever the machine's load (cancelled below).
        steps = page.locator("form.job-form[data-kind=steps]")
        steps.locator("input[name=steps-steps]").fill("120")
        steps.locator("input[name=steps-seconds_per_step]").fill("5")
        known = page.evaluate("[...document.querySelectorAll('tr.job-row')].map(r => r.dataset.job)")
        steps.locator("button[type=submit]").click()
        long_id = page.wait_for_function(NEW_ROW, arg=known, timeout=20000).json_value()
        long_row = page.locator(f"#job-{long_id}")
        try:
            long_row.locator(".message", has_text=re.compile(r"step \d+ of 120")).wait_for(timeout=60000)
            long_row.locator("a.kind", has_text="Slow steps").wait_for(timeout=10000)
            page.screenshot(path=str(docs_dir / "jobs.png"), full_page=True)

            # The job's own page: the bar and counts move, elapsed time and an estimate of the
            # time left show, and Cancel works.
            page.goto(f"{jobs_site.url}/jobs/{long_id}/")
            page.locator("#live-state[data-state=live]").wait_for(timeout=20000)
            page.locator("#job .message", has_text=re.compile(r"step \d+ of 120")).wait_for(timeout=30000)
            done_before = page.evaluate("Number(document.getElementById('job').dataset.done)")
            page.wait_for_function(
                f"Number(document.getElementById('job').dataset.done) > {done_before}", timeout=30000
            )
            page.wait_for_function(
                "/^(\\d+ h )?(\\d+ min )?\\d+ s$/.test(document.querySelector('#job .eta').textContent)",
                timeout=30000,
            )
            assert page.locator("#job .eta-row").is_visible()
            assert re.fullmatch(r"(\d+ h )?(\d+ min )?\d+ s", page.locator("#job .elapsed").inner_text())
            page.locator("#job .cancel-form button").click()
            page.locator("#job[data-status=cancelled]").wait_for(timeout=20000)
            assert page.locator("#job .result").inner_text().strip() == "cancelled"
            page.locator("#job .eta-row").wait_for(state="hidden", timeout=10000)  # no time left now
        finally:
            users("alice").post(f"/api/jobs/{long_id}/cancel/")  # a no-op (409) once cancelled above
    finally:
        context.close()
