"""Done-when items 1 and 5: REDIS_URL set, jobs run by a separate db_worker process."""

from __future__ import annotations

import pytest

from tests.jobs.conftest import ScaledSite, sse_events, start_job, wait_for
from tests.project.conftest import login

pytestmark = pytest.mark.redis


def test_worker_process_runs_the_job_and_its_progress_reaches_the_server(scaled_site: ScaledSite) -> None:
    alice = login(scaled_site.url, "alice")
    try:
        job = start_job(alice, "primes", below=100_000_000)
        with alice.stream("GET", job["stream_url"], timeout=120) as response:
            assert response.status_code == 200
            events = list(sse_events(response))
        assert events[0]["event"] == "progress"
        assert events[-1] == {
            "event": "complete",
            "id": events[-1]["id"],
            "data": {"id": job["id"], "status": "succeeded", "result": {"count": 5761455}},
        }
        dones = [e["data"]["done"] for e in events if e["event"] == "progress"]
        assert dones == sorted(dones) and len(set(dones)) >= 3, dones
        detail = alice.get(f"/api/jobs/{job['id']}/").json()
        # It ran in the worker, not in the server process.
        assert detail["status"] == "succeeded"
        assert detail["worker"].endswith(f":{scaled_site.worker.proc.pid}")  # type: ignore[union-attr]
        assert alice.get(job["stream_url"]).status_code == 204
    finally:
        alice.close()


def test_sigkilled_worker_fails_the_job_and_tells_its_stream(scaled_site: ScaledSite) -> None:
    alice = login(scaled_site.url, "alice")
    try:
        job = start_job(alice, "primes", below=10**9)
        with alice.stream("GET", job["stream_url"], timeout=120) as response:
            events = sse_events(response)
            for event in events:
                if event["event"] == "progress" and event["data"]["done"] > 0:
                    break
            assert alice.get(f"/api/jobs/{job['id']}/").json()["status"] == "running"
            scaled_site.worker.kill()
            rest = list(events)  # the stream ends after the final event
        assert rest[-1]["event"] == "failed"
        assert rest[-1]["data"]["id"] == job["id"]
        assert rest[-1]["data"]["status"] == "failed"
        # JOBS_STALE_SECONDS is 4 for this site; the error says which timeout it was.
        assert "stopped responding" in rest[-1]["data"]["error"]
        assert "4 s" in rest[-1]["data"]["error"]
        detail = wait_for(lambda: alice.get(f"/api/jobs/{job['id']}/").json(), what="the job")
        assert detail["status"] == "failed"
        assert detail["done"] < 10**9
        assert alice.get(job["stream_url"]).status_code == 204
    finally:
        alice.close()
