"""The dashboard page (issue 28, item 8), in headless Chromium at 1280 and 375 px: its heading
stays on one line when a process is left out after a restart, its charts carry a y scale, and
their history survives a restart and a reload (kept in sessionStorage, placed by time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.notifications.test_dashboard_restart import restartable_site, wait_fresh
from tests.project.conftest import browser_login
from tests.servers import DaphneServer

__all__ = ["restartable_site"]  # the fixture, shared by name

pytestmark = pytest.mark.browser

LIVE = "#live-state[data-state=live]"
WAIT_MS = 60000
WIDTHS = [1280, 375]

# A process heard from once and then never again: after 5 s the page names it as left out,
# as it does for the old process after a restart.
GHOST = """() => {
  for (const handler of window.pageStream._handlers.metrics) {
    handler({process: "ghost:1", time: Date.now() / 1000, streams: 1, by_kind: {}, errors: []});
  }
}"""

POINT_COUNT = """key => (document.querySelector('#chart-' + key + ' polyline').getAttribute('points') || '')
  .trim().split(/\\s+/).filter(Boolean).length"""


def open_dashboard(browser: Any, site: DaphneServer, width: int) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    browser_login(page, site.url, "admin")
    page.goto(site.url + "/dashboard/")
    page.locator(LIVE).wait_for(timeout=WAIT_MS)
    return page


@pytest.mark.parametrize("width", WIDTHS)
def test_heading_stays_on_one_line_and_charts_have_a_y_scale(
    docs_dir: Path, browser: Any, site: DaphneServer, width: int
) -> None:
    page = open_dashboard(browser, site, width)
    try:
        page.evaluate(GHOST)
        page.locator("#processes", has_text="1 more left out").wait_for(timeout=WAIT_MS)
        lines = page.eval_on_selector(
            "h1", "h => h.getBoundingClientRect().height / parseFloat(getComputedStyle(h).lineHeight)"
        )
        assert page.locator("h1").inner_text() == "Live streams"
        assert lines < 1.5, f"the heading takes {lines:.1f} lines"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

        # The y scale: a round top, its half and zero, the top at least the highest value drawn.
        page.wait_for_function(
            "/^[0-9]/.test(document.getElementById('now-streams').textContent)", timeout=WAIT_MS
        )
        for key in ("streams", "delivered", "lag"):
            labels = page.locator(f"#y-{key} span").all_inner_texts()
            assert len(labels) == 3 and labels[2] == "0", labels
            top, half = float(labels[0]), float(labels[1])
            assert top > 0 and half == top / 2, labels
            highest = float(page.locator(f"#max-{key}").inner_text().strip("(max )") or 0)
            assert top >= highest, (labels, highest)
            svg = page.locator(f"#chart-{key}")
            assert (svg.get_attribute("aria-label") or "").endswith(f"scale 0 to {labels[0]}")
            # Each label sits beside the plot, level with its line: the top one in its upper part.
            box, first = svg.bounding_box(), page.locator(f"#y-{key} span").first.bounding_box()
            assert first["x"] + first["width"] <= box["x"] + 1
            assert box["y"] - first["height"] <= first["y"] <= box["y"] + box["height"] / 3
        page.screenshot(path=str(docs_dir / f"dashboard-charts-{width}.png"))
    finally:
        page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_chart_history_survives_a_restart_and_a_reload(
    browser: Any, restartable_site: DaphneServer, width: int
) -> None:
    site = restartable_site
    page = open_dashboard(browser, site, width)
    try:
        page.wait_for_function(f"({POINT_COUNT})('streams') >= 10", timeout=WAIT_MS)
        before = page.evaluate(POINT_COUNT, "streams")
        site.stop()
        page.locator("#dashboard-stale", has_text="server unreachable since").wait_for(timeout=WAIT_MS)
        site.start()
        wait_fresh(page)
        # A new process has no history of its own; the page kept what it drew.
        page.reload()
        page.locator(LIVE).wait_for(timeout=WAIT_MS)
        for key in ("streams", "delivered", "lag"):
            assert page.evaluate(POINT_COUNT, key) >= before, key
    finally:
        page.context.close()
