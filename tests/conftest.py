from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import CHROMIUM, CHROMIUM_ARGS, RedisServer, redis_server


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture
def browser() -> Iterator[object]:
    # Per test: sync Playwright keeps an event loop on the main thread while it
    # runs, which would break every async test collected after a browser test.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def docs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where browser tests put their screenshots: a temporary folder, so the suite never
    writes the tree; `make screenshots` (SSE_SCREENSHOTS=1) refreshes docs/screenshots."""
    if os.environ.get("SSE_SCREENSHOTS") != "1":
        return tmp_path_factory.mktemp("screenshots")
    path = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
