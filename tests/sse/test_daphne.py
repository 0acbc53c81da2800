from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from sse.server.daphne import redact
from sse.server.daphne_server import InputQueue
from sse.server.served import RedactingLogger
from tests.sse.conftest import Site


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/sse/stream/?token=abc.def:ghi", "/sse/stream/?token=[redacted]"),
        ("/sse/stream/?channel=a&token=abc&x=1", "/sse/stream/?channel=a&token=[redacted]&x=1"),
        ("/s/?token=a&token=b", "/s/?token=[redacted]&token=[redacted]"),
        ("/s/?TOKEN=abc", "/s/?TOKEN=[redacted]"),
        ("/s/?Token=abc", "/s/?Token=[redacted]"),
        ("/s/?access_token=abc", "/s/?access_token=[redacted]"),
        ("/s/?token=", "/s/?token=[redacted]"),
        ("/s/?token=abc#frag", "/s/?token=[redacted]#frag"),
        ("?token=abc", "?token=[redacted]"),
        ("token=abc", "token=[redacted]"),
        ("/s/?token=a%26b", "/s/?token=[redacted]"),
        # Look-alike names and paths are left alone.
        ("/s/?mytoken=abc", "/s/?mytoken=abc"),
        ("/s/?token_type=abc", "/s/?token_type=abc"),
        ("/token=abc/", "/token=abc/"),
        ("/sse/stream/?channel=public", "/sse/stream/?channel=public"),
        ("", ""),
    ],
)
def test_redact(path: str, expected: str) -> None:
    assert redact(path) == expected


def test_logger_wrapper_redacts_the_path_and_keeps_the_rest() -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []
    logger = RedactingLogger(lambda *args: seen.append(args))
    details = {"path": "/sse/stream/?token=secret", "status": 200, "client": "127.0.0.1:1"}
    logger("http", "complete", details)
    logger("websocket", "connecting", {"client": "x"})
    assert seen == [
        (
            "http",
            "complete",
            {"path": "/sse/stream/?token=[redacted]", "status": 200, "client": "127.0.0.1:1"},
        ),
        ("websocket", "connecting", {"client": "x"}),
    ]
    assert details["path"] == "/sse/stream/?token=secret"  # the caller's dict is not changed


async def test_input_queue_is_fifo_and_truthy_when_empty() -> None:
    queue = InputQueue()
    assert queue  # Daphne tests "if self.application_queue:" before sending a disconnect
    queue.put_nowait({"n": 1})
    queue.put_nowait({"n": 2})
    assert await queue.get() == {"n": 1}
    assert await queue.get() == {"n": 2}


async def test_input_queue_get_waits_for_a_put() -> None:
    queue = InputQueue()
    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.put_nowait({"type": "http.disconnect"})
    assert await asyncio.wait_for(getter, 1) == {"type": "http.disconnect"}


async def test_input_queue_keeps_items_a_cancelled_get_did_not_take() -> None:
    queue = InputQueue()
    cancelled = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait({"n": 1})
    cancelled.cancel()  # woken, but cancelled before it ran
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await asyncio.wait_for(queue.get(), 1) == {"n": 1}


def _static_apps() -> list[str]:
    from django.conf import settings

    return [*settings.INSTALLED_APPS, "django.contrib.staticfiles"]


def _inner_app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("not called")


def test_static_files_are_served_under_debug_as_runserver_does() -> None:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from django.test import override_settings

    from sse.server.daphne_server import with_static_files

    with override_settings(DEBUG=True, INSTALLED_APPS=_static_apps(), STATIC_URL="/static/"):
        wrapped = with_static_files(_inner_app)
        assert isinstance(wrapped, ASGIStaticFilesHandler)
        assert wrapped.application is _inner_app
        assert with_static_files(wrapped) is wrapped  # an asgi.py that wraps it already


def test_no_static_files_without_debug_or_staticfiles() -> None:
    from django.test import override_settings

    from sse.server.daphne_server import with_static_files

    with override_settings(DEBUG=False, INSTALLED_APPS=_static_apps(), STATIC_URL="/static/"):
        assert with_static_files(_inner_app) is _inner_app
    with override_settings(DEBUG=True):  # tests.sse_app has no django.contrib.staticfiles
        assert with_static_files(_inner_app) is _inner_app


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # uvicorn.access: logger.info('%s - "%s %s HTTP/%s" %d', client, method, full_path, version, status)
        (
            ("1.2.3.4:5", "GET", "/sse/stream/?token=abc&channel=x", "1.1", 200),
            "/sse/stream/?token=[redacted]&channel=x",
        ),
        # django.channels.server (daphne's runserver): logger.info(msg, details)
        (
            {"method": "GET", "path": "/s/?channel=x&token=abc", "status": 200},
            "/s/?channel=x&token=[redacted]",
        ),
    ],
)
def test_the_logging_filter_redacts_access_log_records(args: Any, expected: str) -> None:
    import logging

    from sse.server.redaction import RedactTokensFilter

    msg = 'X %s - "%s %s HTTP/%s" %d' if isinstance(args, tuple) else "HTTP %(method)s %(path)s %(status)s"
    record = logging.LogRecord("access", logging.INFO, __file__, 1, msg, args, None)
    assert RedactTokensFilter().filter(record) is True
    assert "abc" not in record.getMessage()
    assert expected in record.getMessage()


# --- system checks at start-up, as runserver runs them -------------------------------------------


def _settings_module(tmp_path: Path, name: str, body: str) -> None:
    (tmp_path / f"{name}.py").write_text(f"from tests.sse_app.settings import *  # noqa: F403\n\n{body}\n")


def _server_env(tmp_path: Path, settings_module: str) -> dict[str, str]:
    from tests.servers import ROOT
    from tests.sse.conftest import sse_env

    env = sse_env(tmp_path / "db.sqlite3")
    env.update(DJANGO_SETTINGS_MODULE=settings_module, PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}")
    return env


def test_a_warning_is_printed_and_the_server_starts(tmp_path: Path) -> None:
    # GZipMiddleware breaks live updates: runserver says so (sse.W004), and now so does sse.server.daphne.
    from tests.servers import DaphneServer

    _settings_module(
        tmp_path, "gzip_settings", 'MIDDLEWARE = ["django.middleware.gzip.GZipMiddleware", *MIDDLEWARE]'
    )
    log = tmp_path / "daphne.log"
    server = DaphneServer(
        _server_env(tmp_path, "gzip_settings"), asgi="tests.sse_app.asgi:application", log_path=log
    )
    with server:
        assert httpx.get(f"{server.url}/sse/stream/?channel=public", timeout=30).status_code == 401
    output = server.log()
    assert "Performing system checks..." in output, output
    assert "?: (sse.W004) GZipMiddleware compresses streaming responses" in output, output
    assert re.search(r"System check identified \d+ issues? \(0 silenced\)\.", output), output


def test_an_error_is_printed_and_the_server_refuses_to_start(tmp_path: Path) -> None:
    from tests.servers import PYTHON, ROOT, free_port

    _settings_module(
        tmp_path, "bad_settings", 'SSE_HEARTBEAT_SECONDS = "15"  # a string, as from the environment'
    )
    port = free_port()
    done = subprocess.run(
        [
            PYTHON,
            "-m",
            "sse.daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "tests.sse_app.asgi:application",
        ],
        cwd=ROOT,
        env=_server_env(tmp_path, "bad_settings"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "(sse.E101) SSE_HEARTBEAT_SECONDS" in output, output
    assert "Listening on" not in output, output
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listened


def test_a_clean_project_says_so(site: Site) -> None:
    assert "System check identified no issues (0 silenced)." in site.server.log()


def test_a_wrong_setting_stops_uvicorn_from_starting(tmp_path: Path) -> None:
    # uvicorn runs no system checks: sse.asgi.get_asgi_application() checks sse's settings itself.
    from tests.servers import PYTHON, ROOT, free_port

    _settings_module(tmp_path, "bad_settings", 'SSE_HEARTBEAT_SECONDS = "15"')
    done = subprocess.run(
        [PYTHON, "-m", "uvicorn", "--port", str(free_port()), "tests.sse_app.streaming_asgi:application"],
        cwd=ROOT,
        env=_server_env(tmp_path, "bad_settings"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "ImproperlyConfigured" in output, output
    assert "(sse.E101)" in output and "SSE_HEARTBEAT_SECONDS" in output, output
    assert "Uvicorn running on" not in output, output
