"""Fixtures for the jobs tests: the project under Daphne, embedded or with Redis and a worker."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from sse.testing import EventParser
from tests.delivery.conftest import PostgresCluster
from tests.project.conftest import login
from tests.servers import PYTHON, ROOT, DaphneServer, RedisServer, prepare_database, project_env

# Fast progress so short jobs still show several steps; heartbeats keep idle streams talking.
FAST = {"JOBS_PROGRESS_INTERVAL": "0.05", "SSE_HEARTBEAT_SECONDS": "1"}


@pytest.fixture(scope="session")
def jobs_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    """The embedded default: one process, SQLite, in-memory layer, jobs on server threads."""
    tmp = tmp_path_factory.mktemp("jobs-site")
    env = project_env(f"sqlite:///{tmp / 'db.sqlite3'}", **FAST)
    env.pop("REDIS_URL", None)
    prepare_database(env)
    with DaphneServer(env, log_path=tmp / "daphne.log") as server:
        yield server


@pytest.fixture(scope="session")
def plain_json_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    """The embedded default with DRF's plain JSON parser (tests/jobs/plain_json_settings.py)."""
    tmp = tmp_path_factory.mktemp("jobs-plain-json-site")
    env = project_env(f"sqlite:///{tmp / 'db.sqlite3'}", "tests.jobs.plain_json_settings", **FAST)
    env.pop("REDIS_URL", None)
    prepare_database(env)
    with DaphneServer(env, log_path=tmp / "daphne.log") as server:
        yield server


@pytest.fixture(scope="session")
def jobs_pg_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    """The embedded default on PostgreSQL: a throwaway cluster, one Daphne process."""
    tmp = tmp_path_factory.mktemp("jobs-pg-site")
    cluster = PostgresCluster().start()
    try:
        env = project_env(cluster.create_database(), **FAST)
        env.pop("REDIS_URL", None)
        prepare_database(env)
        with DaphneServer(env, log_path=tmp / "daphne.log") as server:
            yield server
    finally:
        cluster.stop()


@dataclass
class Worker:
    """``manage.py db_worker``: a separate process that runs queued jobs."""

    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None)

    def start(self) -> Worker:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "django", "db_worker", "--interval", "0.1", "--no-startup-delay", "--no-reload"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no cleanup, no goodbye
        self.proc.wait()


@dataclass
class ScaledSite:
    server: DaphneServer
    worker: Worker

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def scaled_site(redis: RedisServer, tmp_path: Path) -> Iterator[ScaledSite]:
    """REDIS_URL set: jobs go to django-tasks-db and a separate db_worker process runs them."""
    env = project_env(
        f"sqlite:///{tmp_path / 'db.sqlite3'}", REDIS_URL=redis.url, JOBS_STALE_SECONDS="4", **FAST
    )
    prepare_database(env)
    server = DaphneServer(env, log_path=tmp_path / "daphne.log").start()
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        yield ScaledSite(server, worker)
    finally:
        worker.stop()
        server.stop()


def client_for(url: str) -> Callable[[str], httpx.Client]:
    clients: list[httpx.Client] = []

    def make(user: str) -> httpx.Client:
        client = login(url, user)
        clients.append(client)
        return client

    make.clients = clients  # type: ignore[attr-defined]
    return make


@pytest.fixture
def users(jobs_site: DaphneServer) -> Iterator[Callable[[str], httpx.Client]]:
    make = client_for(jobs_site.url)
    yield make
    for client in make.clients:  # type: ignore[attr-defined]
        client.close()


def start_job(client: httpx.Client, kind: str, **params: Any) -> dict[str, Any]:
    answer = client.post("/api/jobs/", json={"kind": kind, "params": params})
    assert answer.status_code == 201, answer.text
    return answer.json()


def cancel_all(client: httpx.Client) -> None:
    """Cancel every unfinished job of the client's user."""
    page: str | None = "/api/jobs/"
    while page:
        listed = client.get(page).json()
        for job in listed["results"]:
            if job["status"] in ("queued", "running"):
                client.post(job["cancel_url"])
        page = listed["next"]


def sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Events of a server-sent stream as {"event", "id", "data" (parsed JSON)}, until it ends.

    ``id`` is the stream's last event id when the event came, as a browser's ``lastEventId``.
    """
    parser = EventParser()
    for chunk in response.iter_raw():
        for event in parser.feed(chunk):
            yield {"event": event.event, "id": event.id, "data": event.json()}


def wait_for(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
