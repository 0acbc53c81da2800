"""/jobs/ and /jobs/<uuid>/ in headless Chromium: cancel from the list, run again, readable values,
and what the pages say while the server is away."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.jobs.conftest import FAST, start_job, wait_for
from tests.project.conftest import browser_login, login
from tests.servers import DaphneServer, prepare_database, project_env

pytestmark = pytest.mark.browser

UNREACHABLE = "unknown (server unreachable)"
JOB_PAGE = re.compile(r".*/jobs/([0-9a-f-]{36})/$")
# A job that surely still runs when the test looks at it: ten minutes, cancelled at the end.
LONG_STEPS = {"steps": 120, "seconds_per_step": 5}


@pytest.fixture
def page_for(browser: Any) -> Iterator[Callable[[str, str], Any]]:
    contexts: list[Any] = []

    def open_as(base_url: str, user: str) -> Any:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        contexts.append(context)
        page = context.new_page()
        browser_login(page, base_url, user)
        return page

    yield open_as
    for context in contexts:
        context.close()


def _wait_live(page: Any) -> None:
    page.locator("#live-state[data-state=live]").wait_for(timeout=30000)


def _finished(client: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    url = f"/api/jobs/{job['id']}/"
    return wait_for(
        lambda: (d := client.get(url).json())["status"] in ("succeeded", "failed", "cancelled") and d,
        what=f"job {job['id']} to finish",
    )


def test_cancel_from_the_list_updates_the_row_without_reload(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client], page_for: Callable[[str, str], Any]
) -> None:
    alice = users("alice")
    job = start_job(alice, "steps", **LONG_STEPS)
    try:
        page = page_for(jobs_site.url, "alice")
        page.goto(f"{jobs_site.url}/jobs/")
        _wait_live(page)
        row = page.locator(f"#job-{job['id']}")
        row.locator(".message", has_text="step").wait_for(timeout=60000)
        assert row.locator("a.kind").inner_text() == "Slow steps", "the kind's title, not its key"
        assert row.locator(".params").inner_text().strip() == "Steps: 120 Seconds per step: 5", (
            "params by their labels"
        )
        assert row.locator(".run-again").is_hidden()
        page.evaluate("window.notReloaded = true")

        row.locator(".cancel-form button").click()
        page.locator(f"#job-{job['id']}[data-status=cancelled]").wait_for(timeout=30000)
        assert row.locator(".job-status").inner_text() == "cancelled"
        assert row.locator(".result").inner_text().strip() == "cancelled"
        assert row.locator(".cancel-form").is_hidden()
        assert row.locator(".run-again").is_visible()
        assert page.evaluate("window.notReloaded === true"), "no reload, no navigation"
        assert alice.get(f"/api/jobs/{job['id']}/").json()["status"] == "cancelled"
    finally:
        alice.post(f"/api/jobs/{job['id']}/cancel/")


def test_run_again_from_the_list_and_from_the_job_page_opens_a_new_job_with_the_same_params(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client], page_for: Callable[[str, str], Any]
) -> None:
    bob = users("bob")
    first = _finished(bob, start_job(bob, "primes", below=1000))
    assert first["status"] == "succeeded"
    page = page_for(jobs_site.url, "bob")
    page.goto(f"{jobs_site.url}/jobs/")
    _wait_live(page)
    row = page.locator(f"#job-{first['id']}")
    assert row.locator("a.kind").inner_text() == "Count primes"
    assert row.locator(".params").inner_text().strip() == "Below: 1,000"
    assert row.locator(".cancel-form").is_hidden()
    assert row.locator("td.created time[datetime]").count() == 1

    row.locator(".run-again").click()
    page.wait_for_url(JOB_PAGE, timeout=30000)
    second_id = JOB_PAGE.fullmatch(page.url)[1]  # type: ignore[index]
    assert second_id != first["id"]
    second = bob.get(f"/api/jobs/{second_id}/").json()
    assert (second["kind"], second["params"]) == ("primes", {"below": 1000})
    assert page.locator("#job .params").inner_text().strip() == "Below: 1,000"
    assert page.locator("#job h1").inner_text().startswith("Count primes")

    # The new job's own page: once it has finished, no time left, and Run again again.
    _wait_live(page)
    page.locator("#job[data-status=succeeded]").wait_for(timeout=60000)
    assert page.locator("#job .eta-row").is_hidden(), "a finished job has no time left"
    assert page.locator("#job .counts").inner_text() == "(1,000 of 1,000)"
    assert page.locator("#job .result").inner_text().strip() == "count: 168"
    # Its times as <time datetime> (the site's script shows them in the browser's time zone).
    page.locator("#job dd.finished time[datetime]").wait_for(timeout=30000)
    for cell in ("started", "finished"):
        stamp = page.locator(f"#job dd.{cell} time").get_attribute("datetime")
        assert page.evaluate("s => !Number.isNaN(Date.parse(s))", stamp), stamp
    page.locator("#job .run-again").click()
    page.wait_for_url(lambda url: JOB_PAGE.fullmatch(url) is not None and second_id not in url, timeout=30000)
    third_id = JOB_PAGE.fullmatch(page.url)[1]  # type: ignore[index]
    assert third_id not in (first["id"], second_id)
    third = bob.get(f"/api/jobs/{third_id}/").json()
    assert (third["kind"], third["params"]) == ("primes", {"below": 1000})


def _seconds(text: str) -> int:
    match = re.fullmatch(r"(?:(\d+) h )?(?:(\d+) min )?(\d+) s", text.strip())
    assert match, f"not a duration: {text!r}"
    h, m, s = (int(part or 0) for part in match.groups())
    return h * 3600 + m * 60 + s


def test_pages_say_the_server_is_unreachable_and_recover_after_a_restart(
    page_for: Callable[[str, str], Any], tmp_path: Path
) -> None:
    env = project_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", **FAST)
    env.pop("REDIS_URL", None)
    prepare_database(env)
    server = DaphneServer(env, log_path=tmp_path / "daphne.log").start()
    alice = login(server.url, "alice")
    try:
        job = start_job(alice, "steps", **LONG_STEPS)
        detail = page_for(server.url, "alice")
        detail.goto(f"{server.url}/jobs/{job['id']}/")
        listing = detail.context.new_page()
        listing.goto(f"{server.url}/jobs/")
        for page in (detail, listing):
            _wait_live(page)
        detail.locator("#job[data-status=running]").wait_for(timeout=60000)
        detail.wait_for_function(
            "/ s$/.test(document.querySelector('#job .elapsed').textContent)", timeout=30000
        )
        row = listing.locator(f"#job-{job['id']}")
        row.locator(".job-status", has_text="running").wait_for(timeout=30000)

        shown_before = _seconds(detail.locator("#job .elapsed").inner_text())
        server.stop()
        detail.locator("#job .elapsed", has_text=UNREACHABLE).wait_for(timeout=30000)
        assert detail.locator("#job .job-status").inner_text() == UNREACHABLE
        assert detail.locator("#job .cancel-form button").is_disabled()
        row.locator(".job-status", has_text=UNREACHABLE).wait_for(timeout=30000)
        assert row.locator(".cancel-form button").is_disabled()

        # The embedded server fails its running jobs when it stops: after the restart the pages
        # say so by themselves, and the elapsed time counts from the job's own start.
        server.start()
        for page in (detail, listing):
            _wait_live(page)
        detail.locator("#job[data-status=failed]").wait_for(timeout=60000)
        assert detail.locator("#job .job-status").inner_text() == "failed"
        detail.wait_for_function(
            "/ s$/.test(document.querySelector('#job .elapsed').textContent)", timeout=30000
        )
        assert _seconds(detail.locator("#job .elapsed").inner_text()) >= shown_before
        assert detail.locator("#job .run-again").is_enabled()
        row.locator(".job-status", has_text="failed").wait_for(timeout=30000)
        assert row.locator(".run-again").is_enabled()
    finally:
        alice.close()
        server.stop()


# Elements of the page's own content wider than the viewport, or reaching past its right edge.
TOO_WIDE = """
() => [...document.querySelectorAll("main *")]
  .filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.right > innerWidth + 0.5; })
  .map(e => e.tagName.toLowerCase() + (e.className ? "." + String(e.className).split(" ").join(".") : ""))
"""


def test_the_list_and_the_job_page_fit_a_375_px_screen(
    browser: Any, jobs_site: DaphneServer, users: Callable[[str], httpx.Client]
) -> None:
    alice = users("alice")
    # Long values: a csv param cut to 60 characters, and a big number.
    long_csv = "item,amount\n" + "".join(f"thing-without-spaces-{i},{i}\n" for i in range(100))
    _finished(alice, start_job(alice, "column_sum", csv=long_csv, column="amount"))
    _finished(alice, start_job(alice, "primes", below=1_000_000))
    job = start_job(alice, "steps", **LONG_STEPS)
    context = browser.new_context(viewport={"width": 375, "height": 800}, is_mobile=True)
    try:
        page = context.new_page()
        browser_login(page, jobs_site.url, "alice")
        for url in (f"{jobs_site.url}/jobs/", f"{jobs_site.url}/jobs/{job['id']}/"):
            page.goto(url)
            _wait_live(page)
            page.locator(".message", has_text="step").first.wait_for(timeout=60000)
            assert page.evaluate(TOO_WIDE) == [], f"wider than 375 px on {url}"
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{url} scrolls sideways: {width} px wide"
    finally:
        context.close()
        alice.post(f"/api/jobs/{job['id']}/cancel/")
