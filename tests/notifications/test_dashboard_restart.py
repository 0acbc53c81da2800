"""The dashboard after a server restart, in headless Chromium against a real Daphne: while the
server is down the page marks its figures stale; once it is back, the new process's figures
arrive on the same page (no reload) and the marker clears."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.project.conftest import browser_login
from tests.servers import DaphneServer, prepare_database, project_env

pytestmark = pytest.mark.browser

LIVE = "#live-state[data-state=live]"
WAIT_MS = 60000
PROCESS_ROW = "#per-process tbody tr[data-process]"


@pytest.fixture
def restartable_site(tmp_path: Path) -> Iterator[DaphneServer]:
    """A server of its own, stopped and started again on the same port by the test.

    The embedded default (in-memory channel layer): each process has only its own viewers,
    so nothing but the page's own stream can start the new process's figures."""
    env = project_env(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    env.pop("REDIS_URL", None)
    prepare_database(env)
    server = DaphneServer(env, log_path=tmp_path / "daphne.log").start()
    try:
        yield server
    finally:
        server.stop()


def process_label(server: DaphneServer) -> str:
    # Figures name their process hostname:pid; `python -m sse.daphne` serves in the process we started.
    assert server.proc is not None
    return f"{socket.gethostname()}:{server.proc.pid}"


def wait_process_row(page: Any, label: str) -> None:
    page.wait_for_function(
        "label => [...document.querySelectorAll('#per-process tbody tr[data-process]')]"
        ".some((tr) => tr.dataset.process === label)",
        arg=label,
        timeout=WAIT_MS,
    )


def wait_fresh(page: Any) -> None:
    # The note and the greying change together: wait for both, with no stale marker left.
    page.wait_for_function(
        "document.getElementById('dashboard-stale').textContent === ''"
        " && !document.getElementById('dashboard-body').classList.contains('dashboard-is-stale')",
        timeout=WAIT_MS,
    )


def test_dashboard_shows_the_new_process_after_a_restart(
    browser: Any, restartable_site: DaphneServer
) -> None:
    site = restartable_site
    context = browser.new_context(viewport={"width": 1100, "height": 720})
    try:
        page = context.new_page()
        browser_login(page, site.url, "admin")
        page.goto(site.url + "/dashboard/")
        page.locator(LIVE).wait_for(timeout=WAIT_MS)
        old = process_label(site)
        # Live figures (not only the rendered ones) from the first process, and nothing stale.
        page.locator("#processes", has_text="server process").wait_for(timeout=WAIT_MS)
        wait_process_row(page, old)
        wait_fresh(page)
        page.evaluate("window.sameDocument = true")  # gone if the page reloads

        site.stop()
        # Down: said in words, and the figures greyed.
        page.locator("#dashboard-stale", has_text="server unreachable since").wait_for(timeout=WAIT_MS)
        page.locator("#dashboard-body.dashboard-is-stale").wait_for(timeout=WAIT_MS)

        site.start()
        new = process_label(site)
        assert new != old
        wait_process_row(page, new)
        wait_fresh(page)
        # The old process has not published for over 5 s: it left the table.
        page.wait_for_function(
            "old => ![...document.querySelectorAll('#per-process tbody tr[data-process]')]"
            ".some((tr) => tr.dataset.process === old)",
            arg=old,
            timeout=WAIT_MS,
        )
        assert page.evaluate("window.sameDocument") is True
    finally:
        context.close()
