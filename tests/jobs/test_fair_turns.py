"""Issue 26, item 3: one user's long jobs do not starve another user's job, on every backend.

bob starts three long ``steps`` jobs, then alice a ``primes`` job below 100. Workers are never
preempted, so the only way alice's job can start while bob's run is that bob never holds every
worker: a user runs at most ``JOBS_MAX_RUNNING_PER_USER`` (default 1) jobs at once, and a free
worker takes the queued job whose turn it is, in one database query
(``jobs.runner.queued_in_turn``). Checked on the embedded backend with SQLite and with
PostgreSQL, and on django-tasks-db with two ``db_worker`` processes. Everything waits on
conditions; bob's jobs last ten minutes each and are cancelled at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.jobs.conftest import FAST, Worker, cancel_all, client_for, start_job, wait_for
from tests.servers import DaphneServer, RedisServer, prepare_database, project_env

LONG = {"steps": 120, "seconds_per_step": 5}  # ten minutes: still running when the test ends


def _job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    answer = client.get(f"/api/jobs/{job_id}/")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _alice_finishes_while_bobs_run(make: Callable[[str], httpx.Client]) -> None:
    alice, bob = make("alice"), make("bob")
    cancel_all(alice)
    cancel_all(bob)
    hogs = [start_job(bob, "steps", **LONG)["id"] for _ in range(3)]
    try:
        wait_for(
            lambda: any(_job(bob, job_id)["status"] == "running" for job_id in hogs),
            timeout=120,
            what="one of bob's jobs to run",
        )
        mine = start_job(alice, "primes", below=100)
        most_running = 0

        def alice_done() -> dict[str, Any] | None:
            nonlocal most_running
            job = _job(alice, mine["id"])
            bobs = [_job(bob, job_id)["status"] for job_id in hogs]
            # Bob's jobs outlast the test: none may have ended, or alice only got a worker
            # because one of bob's let go of it.
            assert all(status in ("queued", "running") for status in bobs), bobs
            most_running = max(most_running, bobs.count("running"))
            return job if job["status"] not in ("queued", "running") else None

        done = wait_for(alice_done, timeout=180, what="alice's job to finish while bob's run")
        print(f"alice's job {done['status']} {done['result']}; bob ran at most {most_running} at once")
        assert done["status"] == "succeeded" and done["result"] == {"count": 25}
        statuses = [_job(bob, job_id)["status"] for job_id in hogs]
        print(f"bob's jobs when alice's had finished: {statuses}")
        assert "running" in statuses
        # The default cap: one running job per user.
        assert most_running == 1
    finally:
        for job_id in hogs:
            bob.post(f"/api/jobs/{job_id}/cancel/")
        wait_for(
            lambda: all(_job(bob, job_id)["status"] == "cancelled" for job_id in hogs),
            timeout=60,
            what="bob's jobs to be cancelled",
        )


def test_embedded_sqlite(users: Callable[[str], httpx.Client]) -> None:
    _alice_finishes_while_bobs_run(users)


def test_embedded_postgresql(jobs_pg_site: DaphneServer) -> None:
    make = client_for(jobs_pg_site.url)
    try:
        _alice_finishes_while_bobs_run(make)
    finally:
        for client in make.clients:  # type: ignore[attr-defined]
            client.close()


@pytest.fixture
def two_workers(redis: RedisServer, tmp_path: Path) -> Iterator[DaphneServer]:
    """REDIS_URL set: django-tasks-db, and two db_worker processes (one job each at a time)."""
    env = project_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", REDIS_URL=redis.url, **FAST)
    prepare_database(env)
    workers = [Worker(env, tmp_path / f"worker-{n}.log") for n in range(2)]
    with DaphneServer(env, log_path=tmp_path / "daphne.log") as server:
        try:
            for worker in workers:
                worker.start()
            yield server
        finally:
            for worker in workers:
                worker.stop()


@pytest.mark.redis
def test_database_queue_with_two_workers(two_workers: DaphneServer) -> None:
    make = client_for(two_workers.url)
    try:
        _alice_finishes_while_bobs_run(make)
    finally:
        for client in make.clients:  # type: ignore[attr-defined]
            client.close()
