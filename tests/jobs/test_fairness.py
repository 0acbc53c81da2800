"""One user's backlog does not hold another user's job behind it (the embedded backend's queue).

bob runs one job at a time (``JOBS_MAX_RUNNING_PER_USER``, default 1), the rest of his backlog
queued; a free worker takes alice's job before any more of his (tests/jobs/test_fair_turns.py
has the same on every backend, with bob's jobs running all along)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from tests.jobs.conftest import cancel_all, start_job, wait_for
from tests.servers import DaphneServer

SLOW = 10**9  # the largest primes job: seconds of sieving each, cancelled when the test ends


def _jobs(client: httpx.Client) -> list[dict[str, Any]]:
    return list(client.get("/api/jobs/").json()["results"])


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def test_a_small_job_of_alice_runs_before_bobs_backlog(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client]
) -> None:
    alice, bob = users("alice"), users("bob")
    cancel_all(bob)
    backlog = [start_job(bob, "primes", below=SLOW)["id"] for _ in range(20)]
    try:
        # One of bob's jobs running (his cap), the rest of his backlog queued behind it.
        wait_for(lambda: any(j["status"] == "running" for j in _jobs(bob)), what="one of bob's jobs to run")
        mine = start_job(alice, "primes", below=100)
        created = _when(alice.get(f"/api/jobs/{mine['id']}/").json()["created"])
        assert created is not None
        # Read after alice's job exists: jobs of bob's still queued now can only start after it was
        # queued, so a first-in-first-out queue would start at least two of them ahead of hers.
        queued_behind = [j for j in _jobs(bob) if j["id"] in backlog and j["status"] == "queued"]
        assert len(queued_behind) >= 2, "bob's backlog ran out before alice's job was queued"

        def alice_done() -> dict[str, Any] | None:
            bobs = _jobs(bob)
            job = alice.get(f"/api/jobs/{mine['id']}/").json()  # read second: no older than bob's
            alice_started = _when(job["started"]) or datetime.max.replace(tzinfo=created.tzinfo)
            # Order, not time: none of bob's queued jobs may start after alice's was queued and
            # before hers started. (One may start in the moment between her job's row and its
            # place in the queue.)
            overtaking = [
                j["id"]
                for j in bobs
                if (started := _when(j["started"])) and created < started < alice_started
            ]
            assert len(overtaking) <= 1, f"{len(overtaking)} of bob's jobs started ahead of alice's"
            return job if job["status"] not in ("queued", "running") else None

        done = wait_for(alice_done, timeout=300, what="alice's job to finish")
        assert done["status"] == "succeeded" and done["result"] == {"count": 25}
    finally:
        for job_id in backlog:
            bob.post(f"/api/jobs/{job_id}/cancel/")
