"""Screenshots of every page at 1280 and 375 px into docs/screenshots/ (`make screenshots`).

A throwaway site (a temporary SQLite database, seed_demo plus the content the page tests
add: notifications, a broadcast, chat messages, jobs and a slow job still running) under
Daphne, photographed in headless Chromium once each page is live. Not part of `make test`:
the suite never writes the tree.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

from tests.project.conftest import browser_login, login  # noqa: E402
from tests.servers import CHROMIUM, CHROMIUM_ARGS, DaphneServer, prepare_database, project_env  # noqa: E402
from tests.test_pages_layout import add_content, console_page  # noqa: E402

WIDTHS = {"1280": {"width": 1280, "height": 800}, "375": {"width": 375, "height": 812}}


def shots(jobs: dict[str, str], slow_job: str | None) -> list[tuple[str, str | None, str]]:
    """(file name, user or None for signed out, path) for every page."""
    pages = [
        ("home", "admin", "/"),
        ("login", None, "/accounts/login/"),
        ("notifications", "alice", "/notifications/"),
        ("chat", "alice", "/chat/lobby/"),
        ("jobs", "alice", "/jobs/"),
        ("job", "alice", f"/jobs/{slow_job or jobs['alice']}/"),
        ("dashboard", "admin", "/dashboard/"),
        ("refusal", "alice", "/dashboard/"),
    ]
    if console_page():
        pages.append(("console", "admin", "/console/"))
    return pages


def start_slow_job(site: DaphneServer) -> str | None:
    """A job that is still running when its page is photographed, where the kind exists."""
    alice = login(site.url, "alice")
    try:
        kinds = {kind["name"] for kind in alice.get("/api/jobs/kinds/").json()}
        if "steps" not in kinds:
            return None
        answer = alice.post(
            "/api/jobs/", json={"kind": "steps", "params": {"steps": 120, "seconds_per_step": 1}}
        )
        answer.raise_for_status()
        return str(answer.json()["id"])
    finally:
        alice.close()


def photograph(browser: Any, site: DaphneServer, out: Path, pages: list[tuple[str, str | None, str]]) -> None:
    for width, viewport in WIDTHS.items():
        contexts: dict[str | None, Any] = {}
        for name, user, path in pages:
            if user not in contexts:
                contexts[user] = browser.new_context(viewport=viewport)
                if user is not None:
                    browser_login(contexts[user].new_page(), site.url, user)
            page = contexts[user].new_page()
            page.goto(site.url + path)
            if user is not None:
                page.locator("#live-state[data-state=live]").wait_for(timeout=60000)
            page.wait_for_load_state("load")
            page.wait_for_timeout(1500)  # a second of live figures and progress on the picture
            target = out / f"{name}-{width}.png"
            page.screenshot(path=str(target), full_page=True)
            print(target.relative_to(ROOT) if target.is_relative_to(ROOT) else target)
            page.close()
        for context in contexts.values():
            context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        env = project_env(f"sqlite:///{Path(tmp) / 'db.sqlite3'}")
        prepare_database(env)
        with DaphneServer(env, log_path=Path(tmp) / "daphne.log") as site, sync_playwright() as pw:
            jobs = add_content(site)
            slow_job = start_slow_job(site)
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                photograph(browser, site, args.out, shots(jobs, slow_job))
            finally:
                browser.close()


if __name__ == "__main__":
    main()
