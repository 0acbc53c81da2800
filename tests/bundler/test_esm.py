"""docs/bundlers.md run as written: sse.mjs imported by a TypeScript page, type-checked with
tsc, bundled with esbuild, and run in Chromium against a real Daphne.

The blocks of the doc's section run in a temporary folder (never the tree): the copy of the
client from the `sse` package (this tree's, through PYTHONPATH), the page's code and HTML, then
tsc and esbuild from the repository's node_modules (package.json pins them; `make test` runs
`npm ci`) where the doc says `npx`. The bundle's folder is then a static folder of tests/sse_app
(tests/bundler/settings.py), so the page and its streams share an origin; a proxy in front
(tests/htmx/proxy.py) cuts the stream and answers 503 meanwhile.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.htmx.proxy import Proxy
from tests.servers import ROOT, DaphneServer, manage, project_env
from tests.sse.conftest import PASSWORD, prepare

pytestmark = pytest.mark.browser

DOC = ROOT / "docs" / "bundlers.md"
SECTION = "## A TypeScript page, bundled with esbuild"
NODE_BIN = ROOT / "node_modules" / ".bin"
CLIENT = ROOT / "sse" / "static" / "sse"
# Generous: the suite must pass on a busy two-core machine.
WAIT_MS = 60_000

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
# "// src/orders.ts", "<!-- dist/orders.html -->"
_FILE_COMMENT = re.compile(r"(?://|<!--)\s*([\w./-]+)(?:\s*-->)?")


def doc_blocks() -> list[tuple[str, str]]:
    text = DOC.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return _FENCE.findall(text[start : end if end != -1 else None])


def run_sh(script: str, cwd: Path) -> str:
    """A shell block of the doc, with the suite's Python first on PATH and `npx tool` as the
    repository's pinned node_modules/.bin/tool (npx would download what it does not find)."""
    for tool in re.findall(r"\bnpx (\S+)", script):
        if not (NODE_BIN / tool).exists():
            pytest.fail(f"{NODE_BIN / tool} is missing: run `npm ci` at the repository root")
    script = re.sub(r"\bnpx (\S+)", lambda m: str(NODE_BIN / m.group(1)), script)
    env = dict(os.environ, PYTHONPATH=str(ROOT), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{script}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def build_front_end(web: Path) -> None:
    """The doc's blocks, in order: shell blocks run in ``web``, the others are files there."""
    blocks = doc_blocks()
    assert [lang for lang, _ in blocks] == ["sh", "ts", "html", "sh"], [lang for lang, _ in blocks]
    for language, text in blocks:
        if language == "sh":
            run_sh(text, web)
            continue
        named = _FILE_COMMENT.fullmatch(text.splitlines()[0])
        assert named, f"a {language} block without a file name:\n{text}"
        (web / named.group(1)).parent.mkdir(parents=True, exist_ok=True)
        (web / named.group(1)).write_text(text)


@dataclass
class FrontEnd:
    web: Path
    server: DaphneServer
    proxy: Proxy
    customer: int

    def publish(self, order: int, status: str) -> None:
        data = json.dumps({"id": order, "status": status})
        manage(self.server.env, "sse_publish", f"orders.customer.{self.customer}", data, "--event", "order")


@pytest.fixture(scope="module")
def front_end(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FrontEnd]:
    tmp = tmp_path_factory.mktemp("bundler")
    web = tmp / "web"
    web.mkdir()
    build_front_end(web)
    env = project_env(
        "",
        settings="tests.bundler.settings",
        SSE_APP_DB=str(tmp / "db.sqlite3"),
        BUNDLE_STATIC=str(web / "dist"),
        SSE_HEARTBEAT_SECONDS="1",
    )
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    customer = prepare(env)["alice"]
    # What the page's template would write: the signed-in customer.
    page = web / "dist" / "orders.html"
    page.write_text(page.read_text().replace('data-customer="1"', f'data-customer="{customer}"'))
    with DaphneServer(env, asgi="tests.bundler.asgi:application", log_path=tmp / "daphne.log") as server:
        proxy = Proxy(server.port).start()
        try:
            yield FrontEnd(web, server, proxy, customer)
        finally:
            proxy.stop()


def test_the_doc_copies_this_client_and_bundles_it(front_end: FrontEnd) -> None:
    vendor = front_end.web / "src" / "vendor" / "sse"
    for name in ("sse.js", "sse.mjs", "sse.d.mts"):
        assert (vendor / name).read_bytes() == (CLIENT / name).read_bytes(), f"{name} is not this tree's"
    bundle = (front_end.web / "dist" / "orders.js").read_text()
    # sse.js itself is in the bundle (one client: nothing else defines SSEStream).
    assert "class SSEStream" in bundle and "class EventStreamParser" in bundle


def wait_state(page: Any, state: str) -> None:
    script = f"() => document.querySelector('#orders').dataset.state === '{state}'"
    page.wait_for_function(script, timeout=WAIT_MS)


def shown(page: Any, count: int) -> list[str]:
    """The orders the page shows, once it shows ``count``."""
    script = f"() => document.querySelectorAll('#orders li').length >= {count}"
    page.wait_for_function(script, timeout=WAIT_MS)
    return list(page.locator("#orders li").all_inner_texts())


def test_the_bundled_page_is_live_and_resumes_after_a_cut(browser: Any, front_end: FrontEnd) -> None:
    proxy = front_end.proxy
    context = browser.new_context()
    signed_in = context.request.post(proxy.url + "/login/", form={"username": "alice", "password": PASSWORD})
    assert signed_in.status == 200, signed_in.text()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(proxy.url + "/static/orders.html")
    wait_state(page, "live")

    front_end.publish(1, "paid")
    assert shown(page, 1) == ["#1: paid"]

    # Cut: the open stream ends and, meanwhile, every stream request gets a 503.
    proxy.refuse(True)
    wait_state(page, "reconnecting")
    front_end.publish(2, "shipped")
    deadline = time.monotonic() + WAIT_MS / 1000
    while not proxy.answered("503") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proxy.answered("503"), "the page never came back while the stream was refused"
    proxy.refuse(False)

    assert shown(page, 2) == ["#1: paid", "#2: shipped"]
    wait_state(page, "live")
    assert "lastEventId=" in proxy.stream_requests()[-1], proxy.stream_requests()
    front_end.publish(3, "delivered")
    assert shown(page, 3) == ["#1: paid", "#2: shipped", "#3: delivered"]

    # The module imported, unbundled, by a module script: it runs sse.js again, and exports
    # the class the bundle defined (one SSEStream per page, which sse-htmx.js finds).
    same = page.evaluate(
        """() => { const bundled = window.SSEStream; return import('/static/sse/sse.mjs').then(
             (m) => typeof bundled === 'function' && m.default === bundled && m.SSEStream === bundled
                    && window.SSEStream === bundled); }"""
    )
    assert same is True
    page.wait_for_timeout(500)  # nothing more comes: none twice
    assert page.locator("#orders li").all_inner_texts() == ["#1: paid", "#2: shipped", "#3: delivered"]
    assert errors == []
    context.close()
