from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers import CHROMIUM, CHROMIUM_ARGS, RedisServer, redis_server, share_templates


def pytest_configure(config: pytest.Config) -> None:
    share_templates(config)


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@dataclass
class Chromium:
    browser: Any
    loop: asyncio.AbstractEventLoop | None


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    """One headless Chromium for the whole run (each test opens contexts of its own).

    Sync Playwright runs its event loop on a greenlet of the main thread, and that loop
    stays marked as the thread's running loop between calls: pytest-asyncio would then
    refuse to run async tests, and Django would refuse database calls in teardowns. The
    mark is set only while a test that uses ``browser`` runs.

    The back/forward cache stays on, as in the Chromium people run (Playwright turns it off
    by default with ``--disable-back-forward-cache``): a page left behind is kept, frozen,
    and restored by Back/Forward with ``pageshow.persisted`` (issue 24). A restored page
    fires no ``load``: ``page.go_back()``/``go_forward()`` need ``wait_until="commit"``.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            ignore_default_args=["--disable-back-forward-cache"],
        )
        running = Chromium(instance, asyncio._get_running_loop())
        asyncio._set_running_loop(None)
        try:
            yield running
        finally:
            asyncio._set_running_loop(running.loop)
            instance.close()


@pytest.fixture
def browser(chromium: Chromium) -> Iterator[Any]:
    """The run's Chromium; the contexts a test opened are closed after it, so no page of
    one test keeps a stream open into the next."""
    asyncio._set_running_loop(chromium.loop)
    asyncio.set_event_loop(chromium.loop)
    try:
        yield chromium.browser
        for context in chromium.browser.contexts:
            context.close()
    finally:
        asyncio._set_running_loop(None)


@pytest.fixture(scope="session", autouse=True)
def no_job_sweeper_here() -> None:
    """The jobs sweeper starts with the first request a process serves. In this process the
    requests are the test client's, on a test database that goes away with its tests: the
    sweeper stays off here (the servers the tests start run their own)."""
    from django.core.signals import request_started

    request_started.disconnect(dispatch_uid="jobs.sweeper")


@pytest.fixture(scope="session")
def docs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where browser tests put their screenshots: a temporary folder, so the suite never
    writes the tree; `make screenshots` (SSE_SCREENSHOTS=1) refreshes docs/screenshots."""
    if os.environ.get("SSE_SCREENSHOTS") != "1":
        return tmp_path_factory.mktemp("screenshots")
    path = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
