"""Mistakes made while adding sse to a project, each caught where it used to fail silently.

Real processes: ``manage.py`` (``check``, ``migrate``, ``shell``) and ``python -m sse.daphne``
on tests/sse_app, each on an SQLite file of its own.

- ``migrate`` not run for sse: ``check --database default`` says so (``sse.W011``), ``migrate``
  itself does not; a stream answers ``503`` naming the fix (it was ``200`` + ``retry:`` forever),
  with an ERROR in the server's log, and streams work once ``migrate`` ran, no restart.
- Django's own ``get_asgi_application`` in asgi.py: a WARNING, once, at the first stream.
- ``sse`` missing from ``INSTALLED_APPS``: ``manage.py check`` stops with the fix (it was
  clean, then every stream a 500 with Django's app_label RuntimeError).
- A 401 for a bad stream token names the token endpoint only where the site mounts it.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from django.test import AsyncClient, override_settings

from sse import runtime
from sse.storage import get_event_log
from sse.streams import readiness
from tests.servers import PYTHON, ROOT, DaphneServer, manage
from tests.sse.conftest import login, prepare, sse_env
from tests.sse.sse_client import StreamReader

STREAM = "/sse/stream/"
THREAD_WARNING = "each open stream holds an OS thread of its own"


def wait_for_log(server: DaphneServer, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while text not in (log := server.log()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return log


@contextmanager
def open_stream(client: httpx.Client, channel: str = "public") -> Iterator[StreamReader]:
    """The stream's first block read (it is subscribed), held open until the caller moves on."""
    with client.stream("GET", STREAM, params={"channel": channel}) as response:
        assert response.status_code == 200, response.read()
        reader = StreamReader(response)
        reader.read_bytes(len(b"retry:"))
        yield reader


# -- migrate not run ---------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return sse_env(tmp_path / "db.sqlite3")


def without_sse_tables(env: dict[str, str]) -> None:
    """The project migrated, with its users, except for sse: sse added after the last migrate."""
    prepare(env)
    manage(env, "migrate", "sse", "zero", "--noinput", "-v0")


def test_w011_check_database_names_the_missing_tables(env: dict[str, str]) -> None:
    without_sse_tables(env)
    done = manage(env, "check", "--database", "default", check=False)
    assert done.returncode == 0, done.stderr  # a warning: a deploy's "check, then migrate" goes on
    assert "(sse.W011) The event log's tables are missing from database 'default'" in done.stderr
    for table in ("sse_channelhead", "sse_storedevent", "sse_logidentity"):
        assert table in done.stderr
    assert "sse's migrations were not applied there; run python manage.py migrate." in done.stderr
    # Without --database the database checks do not run (runserver, the servers).
    assert "sse.W011" not in manage(env, "check").stderr


def test_w011_not_raised_by_migrate_itself_nor_after_it(env: dict[str, str]) -> None:
    # A new database: migrate runs the database checks before it creates the tables.
    done = manage(env, "migrate", "--noinput")
    assert "sse.W011" not in done.stdout + done.stderr
    assert "Applying sse.0001_initial... OK" in done.stdout
    done = manage(env, "check", "--database", "default")
    assert "sse.W011" not in done.stdout + done.stderr


@pytest.fixture
def unmigrated_server(env: dict[str, str], tmp_path: Path) -> Iterator[DaphneServer]:
    without_sse_tables(env)
    server = DaphneServer(
        env, asgi="tests.sse_app.streaming_asgi:application", log_path=tmp_path / "daphne.log"
    )
    with server:
        yield server


def test_without_migrate_a_stream_answers_503_naming_the_fix(unmigrated_server: DaphneServer) -> None:
    with httpx.Client(base_url=unmigrated_server.url, timeout=30) as client:
        login(client, "alice")
        for _ in range(3):
            response = client.get(STREAM, params={"channel": "public"})
            assert response.status_code == 503, response.text
            assert response.headers["content-type"].startswith("text/plain")
            assert "streams are not set up on this server" in response.text
            assert "the event log's tables are missing from database 'default'" in response.text
            assert "run python manage.py migrate" in response.text
        # The server's log names the fix, once for the three refusals.
        log = wait_for_log(unmigrated_server, "every stream answers 503 until this is fixed")
        lines = [line for line in log.splitlines() if "every stream answers 503" in line]
        assert len(lines) == 1, log
        assert "run python manage.py migrate" in lines[0]

        # migrate, from another process, while the server runs: streams work, no restart.
        manage(unmigrated_server.env, "migrate", "--noinput", "-v0")
        with client.stream("GET", STREAM, params={"channel": "public"}) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
            reader = StreamReader(stream)
            assert reader.read_bytes(len(b"retry: 2000")) == b"retry: 2000"


async def test_streams_opening_together_share_one_look_at_the_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reconnect storm after a restart waits for one look, not a query per stream."""
    looks: list[int] = []
    answer = threading.Event()

    def setup_problem() -> str:
        looks.append(1)
        answer.wait(30)
        return "the event log's tables are missing"

    monkeypatch.setattr(get_event_log(), "setup_problem", setup_problem)
    monkeypatch.setattr(runtime.get().part(readiness.Readiness), "ready_log", None)
    waiting = [asyncio.create_task(readiness.event_log_problem()) for _ in range(20)]
    await asyncio.sleep(0)  # each runs to its wait for the look
    answer.set()
    refusals = await asyncio.gather(*waiting)
    assert looks == [1]
    assert {(refused.status, refused.message) for refused in refusals if refused is not None} == {
        (503, "streams are not set up on this server: the event log's tables are missing")
    }
    assert len(refusals) == 20


# -- Django's own ASGI handler ------------------------------------------------------------


@pytest.fixture
def site_env(tmp_path: Path) -> dict[str, str]:
    env = sse_env(tmp_path / "db.sqlite3")
    prepare(env)
    return env


@pytest.mark.parametrize(
    ("asgi", "warned"),
    [("tests.sse_app.asgi:application", True), ("tests.sse_app.streaming_asgi:application", False)],
    ids=["django-handler", "sse-handler"],
)
def test_a_stream_on_django_own_asgi_handler_is_warned_about_once(
    site_env: dict[str, str], tmp_path: Path, asgi: str, warned: bool
) -> None:
    with DaphneServer(site_env, asgi=asgi, log_path=tmp_path / "daphne.log") as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            login(client, "alice")
            with ExitStack() as streams:
                for _ in range(3):
                    streams.enter_context(open_stream(client))
                # A plain request after them: its log line comes after any warning of theirs.
                assert client.get(STREAM, params={"channel": "nobody-may"}).status_code == 403
                log = wait_for_log(server, "nobody-may")
    warnings = [line for line in log.splitlines() if THREAD_WARNING in line]
    if not warned:
        assert warnings == [], log
        return
    assert len(warnings) == 1, log
    assert "it was served by Django's own ASGI handler" in warnings[0]
    assert "from sse.asgi import get_asgi_application" in warnings[0]


# -- sse not in INSTALLED_APPS ------------------------------------------------------------


@pytest.fixture
def without_the_app(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "no_sse_settings.py").write_text(
        "from tests.sse_app.settings import *  # noqa: F403\n\n"
        "INSTALLED_APPS = [app for app in INSTALLED_APPS if app != 'sse']  # noqa: F405\n"
    )
    env = sse_env(tmp_path / "db.sqlite3", DJANGO_SETTINGS_MODULE="no_sse_settings")
    env["PYTHONPATH"] = f"{tmp_path}:{ROOT}"
    return env


NOT_INSTALLED = re.compile(r"ImproperlyConfigured: (\S+) needs the sse app: add 'sse' to INSTALLED_APPS")


def test_sse_missing_from_installed_apps_stops_manage_py_check(without_the_app: dict[str, str]) -> None:
    done = manage(without_the_app, "check", check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    found = NOT_INSTALLED.search(done.stderr)
    assert found is not None and found.group(1) == "sse.urls", done.stderr
    assert "python manage.py migrate" in done.stderr
    assert "app_label" not in done.stderr


def test_sse_missing_from_installed_apps_names_the_fix_when_publishing(
    without_the_app: dict[str, str],
) -> None:
    done = subprocess.run(
        [PYTHON, "-m", "django", "shell", "-c", "import sse; sse.publish('public', {'n': 1})"],
        cwd=ROOT,
        env=without_the_app,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    found = NOT_INSTALLED.search(done.stderr)
    # publish() asks the runtime for the log first: it names the fix (sse.models did before).
    assert found is not None and found.group(1) == "sse.runtime", done.stderr
    assert "app_label" not in done.stderr


# -- the 401 of a bad token ----------------------------------------------------------------

URLCONFS = {
    "urls_moved_api": "path('sse/', include('sse.urls')), path('auth/streams/', include('sse.api.urls'))",
    "urls_no_api": "path('sse/', include('sse.urls'))",
}


@pytest.fixture
def urlconfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, patterns in URLCONFS.items():
        (tmp_path / f"{name}.py").write_text(
            f"from django.urls import include, path\nurlpatterns = [{patterns}]\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in URLCONFS:
        sys.modules.pop(name, None)


@pytest.mark.django_db
@pytest.mark.usefixtures("urlconfs")
@pytest.mark.parametrize(
    ("urlconf", "expected"),
    [
        ("urls_moved_api", "invalid token: ask POST /auth/streams/tokens/ for a new one"),
        ("urls_no_api", "invalid token: get a new stream token"),
    ],
)
async def test_a_bad_token_names_the_token_endpoint_only_where_it_is_mounted(
    async_client: AsyncClient, urlconf: str, expected: str
) -> None:
    with override_settings(ROOT_URLCONF=urlconf):
        response = await async_client.get(STREAM, {"channel": "public", "token": "not-a-token"})
    assert response.status_code == 401
    assert response.content.decode() == expected + "\n"
