from __future__ import annotations

import asyncio
import os
from collections.abc import Generator, Iterator
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


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the whole run (each test opens contexts of its own)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def browser(chromium: Any) -> Iterator[Any]:
    """The run's Chromium; the contexts a test opened are closed after it, so no page of
    one test keeps a stream open into the next."""
    yield chromium
    for context in chromium.contexts:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """Sync Playwright, once started, leaves its event loop marked as running on the main
    thread between calls; pytest-asyncio then refuses to run async tests. A test that does
    not use the browser runs with no loop marked, and the mark is put back after it."""
    held = asyncio._get_running_loop()
    if held is None or "browser" in getattr(item, "fixturenames", ()):
        return (yield)
    asyncio._set_running_loop(None)
    try:
        return (yield)
    finally:
        asyncio.set_event_loop(held)
        asyncio._set_running_loop(held)


@pytest.fixture(scope="session")
def docs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where browser tests put their screenshots: a temporary folder, so the suite never
    writes the tree; `make screenshots` (SSE_SCREENSHOTS=1) refreshes docs/screenshots."""
    if os.environ.get("SSE_SCREENSHOTS") != "1":
        return tmp_path_factory.mktemp("screenshots")
    path = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
