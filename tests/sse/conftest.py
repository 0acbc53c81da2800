"""Fixtures for the sse tests: tests/sse_app served by Daphne over a real socket."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from django.conf import settings

from sse import runtime
from sse.channels.patterns import ChannelRegistry
from tests.conftest import redis  # noqa: F401  (the real redis-server fixture)
from tests.servers import DaphneServer, copy_of_template, project_env, share_templates

SSE_SETTINGS = "tests.sse_app.settings"

# Under any other settings module (the project's main run collects this
# directory too) these tests are skipped from collection: they belong to the
# standalone app, and `make test` runs them with tests/sse/pytest.ini.
if settings.SETTINGS_MODULE != SSE_SETTINGS:
    collect_ignore_glob = ["test_*.py"]

PASSWORD = "test"


def pytest_configure(config: pytest.Config) -> None:
    share_templates(config)


def sse_env(db_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a tests/sse_app process (server, publisher, manage)."""
    env = project_env(
        "", settings=SSE_SETTINGS, SSE_APP_DB=str(db_path), SECRET_KEY=settings.SECRET_KEY, **extra
    )
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    if "REDIS_URL" in extra:
        env["REDIS_URL"] = extra["REDIS_URL"]
    return env


def prepare(env: dict[str, str]) -> dict[str, int]:
    """The SQLite file migrated and holding the test users (a copy of the run's template);
    their pks by name."""
    steps = [["migrate", "--noinput", "-v0"], ["sse_app_users"]]
    out = copy_of_template(env, Path(env["SSE_APP_DB"]), steps, db_var="SSE_APP_DB")[1]
    return {name: int(pk) for name, pk in re.findall(r"^(\w+) (\d+)$", out, re.M)}


@dataclass
class Site:
    """tests/sse_app under Daphne: its users' pks, and httpx clients signed in over HTTP.

    tests/delivery has a ``DeliverySite`` of its own (the project's settings, SQLite or PostgreSQL,
    cookies minted in a subprocess, publisher processes): nothing but the server in common.
    """

    server: DaphneServer
    users: dict[str, int]
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def env(self) -> dict[str, str]:
        return self.server.env

    def client(self, username: str | None = None, **kwargs: object) -> httpx.Client:
        """An httpx client, signed in (session + CSRF header) when a username is given."""
        client = httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]
        self.clients.append(client)
        if username is not None:
            login(client, username)
        return client


def login(client: httpx.Client, username: str) -> None:
    answer = client.post("/login/", data={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, f"sign-in of {username} failed: {answer.status_code}"
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]


def start_site(tmp: Path, **env: str) -> Site:
    site_env = sse_env(tmp / "db.sqlite3", **env)
    users = prepare(site_env)
    server = DaphneServer(site_env, asgi="tests.sse_app.asgi:application", log_path=tmp / "daphne.log")
    return Site(server.start(), users)


@contextmanager
def running_site(tmp: Path, **env: str) -> Iterator[Site]:
    """``start_site``; on the way out, its clients closed and its server stopped."""
    running = start_site(tmp, **env)
    try:
        yield running
    finally:
        for client in running.clients:
            client.close()
        running.server.stop()


def site_fixture(name: str, doc: str, *, scope: Literal["session", "module"] = "module", **env: str) -> Any:
    """A fixture ``name``: tests/sse_app under Daphne with ``env`` (SSE_* settings), in a tmp dir.

    Each fixture made here is a server of its own; ``site`` is the one most tests share.
    """

    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
        with running_site(tmp_path_factory.mktemp(name), **env) as running:
            yield running

    fixture.__doc__ = doc
    return pytest.fixture(scope=scope, name=name)(fixture)


site = site_fixture(
    "site",
    "tests/sse_app: its own SQLite file, the in-memory layer, 1 s heartbeats.",
    scope="session",
    SSE_HEARTBEAT_SECONDS="1",
)


@pytest.fixture
def no_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """No channel rule registered during the test (the runtime gets a fresh registry); the
    project's rules come back after it."""
    monkeypatch.setitem(runtime.get().parts, ChannelRegistry, ChannelRegistry())


@pytest.fixture
def alice(site: Site) -> httpx.Client:
    return site.client("alice")


@pytest.fixture
def bob(site: Site) -> httpx.Client:
    return site.client("bob")


@pytest.fixture
def staff(site: Site) -> httpx.Client:
    return site.client("staff")


@pytest.fixture
def anonymous(site: Site) -> httpx.Client:
    return site.client()
