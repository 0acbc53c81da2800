"""What sse.W002 says a WSGI runserver does with a stream, on a real socket.

Without 'daphne' in INSTALLED_APPS, ``manage.py runserver`` is Django's own,
WSGI server; ``runserver --noasgi`` under Daphne is that same server, so this
runs it on tests/sse_app as it stands. A stream a rule allows gets a 500 from
the server (not from Django: the body fails once the response has left the
view), while refusals come through as usual. If this ever changes, W002's text
must change with it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.test import override_settings

from sse.checks import check_setup
from tests.servers import PYTHON, ROOT, _default_sigint, free_port, wait_for_port
from tests.sse.conftest import login, prepare, sse_env


@dataclass
class WsgiRunserver:
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def wsgi_runserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WsgiRunserver]:
    tmp = tmp_path_factory.mktemp("wsgi-runserver")
    env = sse_env(tmp / "db.sqlite3")
    prepare(env)
    port = free_port()
    log_path = tmp / "runserver.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [PYTHON, "-m", "django", "runserver", "--noasgi", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_default_sigint,
        )
    try:
        wait_for_port(port, proc=proc)
        yield WsgiRunserver(f"http://127.0.0.1:{port}", log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def alice(wsgi_runserver: WsgiRunserver) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=wsgi_runserver.url, timeout=30) as client:
        login(client, "alice")
        yield client


def test_it_is_the_wsgi_server(wsgi_runserver: WsgiRunserver) -> None:
    # runserver prints its banner once bound, which may be just after the port accepts.
    deadline = time.monotonic() + 30
    while "development server at" not in (log := wsgi_runserver.log()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "development server at" in log, log
    assert "Daphne" not in log


def test_an_allowed_stream_is_answered_500(wsgi_runserver: WsgiRunserver, alice: httpx.Client) -> None:
    with alice.stream("GET", "/sse/stream/", params={"channel": "public"}) as response:
        response.read()
    assert response.status_code == 500, (response.status_code, response.headers)
    assert response.text.startswith("A server error occurred")
    assert "text/event-stream" not in response.headers["content-type"]
    assert "RuntimeError: Event loop is closed" in wsgi_runserver.log()


def test_a_refusal_still_comes_through(alice: httpx.Client) -> None:
    response = alice.get("/sse/stream/", params={"channel": "staff"})
    assert response.status_code == 403
    assert response.text.strip() == "not allowed to read channel staff"


def test_w002_says_so() -> None:
    apps = [app for app in settings.INSTALLED_APPS if app != "daphne"]
    with override_settings(INSTALLED_APPS=apps):
        [message] = check_setup()
    assert message.id == "sse.W002"
    assert "answered 500 'A server error occurred'" in message.msg
    assert "RuntimeError: Event loop is closed" in message.msg
    assert "refusals (401, 403, 404) still come through" in message.msg
