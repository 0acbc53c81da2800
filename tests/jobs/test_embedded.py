"""Done-when items 2-4 under the embedded default: one process, no Redis, real sockets."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.jobs.conftest import FAST, sse_events, start_job, wait_for
from tests.project.conftest import login
from tests.servers import DaphneServer, manage, prepare_database, project_env

BIG = 10**9  # a job that runs for many seconds: long enough to cancel or watch


def test_primes_job_streams_state_progress_then_complete_and_204_after(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client]
) -> None:
    alice = users("alice")
    job = start_job(alice, "primes", below=100_000_000)
    assert job["status"] == "queued"
    assert job["stream_url"] == f"/jobs/{job['id']}/stream/"

    with alice.stream("GET", job["stream_url"], timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        events = list(sse_events(response))  # the stream ends by itself after the final event

    first, last = events[0], events[-1]
    assert first["event"] == "progress"
    assert set(first["data"]) == {"id", "status", "done", "total", "percent", "message"}
    assert last["event"] == "complete"
    assert last["data"] == {"id": job["id"], "status": "succeeded", "result": {"count": 5761455}}
    progress = [e["data"] for e in events if e["event"] == "progress"]
    dones = [p["done"] for p in progress]
    assert dones == sorted(dones), "progress never goes back"
    assert len(set(dones)) >= 3, f"progress should advance in steps, saw {dones}"
    assert progress[-1]["percent"] == 100
    ids = [e["id"] for e in events]
    # A browser's last event id changes at every event only if every event carries its own id.
    assert all(ids) and len(set(ids)) == len(ids), f"every event carries an id of its own: {ids}"

    # Once finished, the stream answers 204 so a browser stops reconnecting.
    again = alice.get(job["stream_url"])
    assert again.status_code == 204
    # A client that lost the end resumes with its last id and is told how it ended.
    with alice.stream("GET", job["stream_url"], headers={"Last-Event-ID": first["id"]}) as response:
        resumed = list(sse_events(response))
    assert [e["event"] for e in resumed] == ["complete"]
    assert alice.get(job["stream_url"], headers={"Last-Event-ID": resumed[0]["id"]}).status_code == 204

    detail = alice.get(f"/api/jobs/{job['id']}/").json()
    assert detail["status"] == "succeeded" and detail["result"] == {"count": 5761455}
    assert detail["percent"] == 100
    # Every ended job stream left the hub: nothing leaks.
    admin = users("admin")
    wait_for(lambda: admin.get("/api/sse/stats/").json()["streams"] == 0, what="the streams to close")


def test_late_subscriber_first_sees_where_the_job_is(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client]
) -> None:
    alice = users("alice")
    job = start_job(alice, "primes", below=BIG)
    try:
        wait_for(lambda: alice.get(f"/api/jobs/{job['id']}/").json()["done"] > 0, what="some progress")
        with alice.stream("GET", job["stream_url"], timeout=60) as response:
            events = sse_events(response)
            first = next(events)
            assert first["event"] == "progress"
            assert first["data"]["status"] == "running"
            assert first["data"]["done"] > 0, "a late subscriber starts from the current state, not zero"
            assert first["data"]["total"] == BIG
    finally:
        alice.post(f"/api/jobs/{job['id']}/cancel/")


def test_cancel_stops_a_running_job(jobs_site: DaphneServer, users: Callable[[str], httpx.Client]) -> None:
    alice = users("alice")
    job = start_job(alice, "primes", below=BIG)
    with alice.stream("GET", job["stream_url"], timeout=60) as response:
        seen = []
        for event in sse_events(response):
            seen.append(event)
            if event["event"] == "progress" and event["data"]["done"] > 0 and len(seen) == 3:
                answer = alice.post(f"/api/jobs/{job['id']}/cancel/")
                assert answer.status_code == 200, answer.text
                assert answer.json()["status"] == "cancelled"
        # The stream ended by itself after the final event.
    assert seen[-1] == {
        "event": "cancelled",
        "id": seen[-1]["id"],
        "data": {"id": job["id"], "status": "cancelled"},
    }

    # The job's code noticed at its next report and returned, long before 10^9.
    stopped = wait_for(
        lambda: (d := alice.get(f"/api/jobs/{job['id']}/").json())["exited"] and d, what="the job to stop"
    )
    assert stopped["status"] == "cancelled"
    assert stopped["done"] < BIG
    # ... and its progress stays where it was.
    later = alice.get(f"/api/jobs/{job['id']}/").json()
    assert (later["done"], later["status"], later["message"]) == (stopped["done"], "cancelled", "cancelled")
    assert alice.get(job["stream_url"]).status_code == 204
    # Cancelling a finished job is refused in words.
    again = alice.post(f"/api/jobs/{job['id']}/cancel/")
    assert again.status_code == 409 and "already finished" in again.json()["detail"]


def test_job_failing_mid_run_ends_failed_with_a_readable_error(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client]
) -> None:
    alice = users("alice")
    # The owner's channel is open before the job starts, so no event can slip by.
    pk = re.search(r"jobs\.user\.(\d+)", alice.get("/jobs/").text).group(1)  # type: ignore[union-attr]
    rows = "".join(f"item{i},{i}\n" for i in range(1, 2000))
    with alice.stream("GET", f"/sse/stream/?channel=jobs.user.{pk}", timeout=60) as response:
        events = sse_events(response)
        job = start_job(
            alice, "column_sum", csv="item,amount\n" + rows + "bad,12x\nlast,1\n", column="amount"
        )
        mine = []
        for event in events:
            if event["data"].get("id") == job["id"]:
                mine.append(event)
                if event["event"] != "progress":
                    break
    assert mine[0]["event"] == "progress"
    assert mine[-1]["event"] == "failed"
    assert mine[-1]["data"] == {
        "id": job["id"],
        "status": "failed",
        "error": "row 2001: '12x' in column 'amount' is not a number",
    }
    # The last report before the failure went out, throttle or not: it got part of the way.
    last_progress = [e["data"] for e in mine if e["event"] == "progress"][-1]
    assert 0 < last_progress["done"] < last_progress["total"] == 2001
    detail = alice.get(f"/api/jobs/{job['id']}/").json()
    assert (detail["status"], detail["done"]) == ("failed", last_progress["done"])
    assert alice.get(job["stream_url"]).status_code == 204


def test_invalid_params_are_refused_with_field_errors(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client]
) -> None:
    alice = users("alice")
    primes, csv_sum, report = "primes", "column_sum", "report"
    cases = [
        (primes, {"below": 1}, {"below": ["Ensure this value is greater than or equal to 2."]}),
        (primes, {"below": 10**9 + 1}, {"below": ["Ensure this value is less than or equal to 1000000000."]}),
        (primes, {"below": "many"}, {"below": ["Enter a whole number."]}),
        (primes, {"below": 2.5}, {"below": ["Enter a whole number."]}),
        (primes, {}, {"below": ["This field is required."]}),
        (primes, {"below": 10, "extra": 1}, {"extra": ["unknown parameter"]}),
        (primes, [1], {"non_field_errors": ["params must be a JSON object"]}),
        (csv_sum, {"csv": "a,b\n1,2\n", "column": "c"}, {"column": ["no column 'c'; the header has a, b"]}),
        # Staff-only datasets do not exist for alice.
        (
            report,
            {"dataset": "users"},
            {"dataset": ["Select a valid choice. users is not one of the available choices."]},
        ),
    ]
    for kind, params, errors in cases:
        answer = alice.post("/api/jobs/", json={"kind": kind, "params": params})
        assert answer.status_code == 400, (params, answer.text)
        assert answer.json() == {"params": errors}, params
    unknown = alice.post("/api/jobs/", json={"kind": "mine-bitcoin", "params": {}})
    assert unknown.status_code == 400
    assert "unknown job kind 'mine-bitcoin'" in unknown.json()["kind"][0]
    assert alice.post("/api/jobs/", json={"params": {}}).json() == {"kind": ["this field is required"]}
    assert (
        alice.post("/api/jobs/", content=b"[1, 2]", headers={"Content-Type": "application/json"}).status_code
        == 400
    )
    assert (
        alice.post(
            "/api/jobs/", content=b"{bad json", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )


def test_after_a_restart_jobs_the_old_server_lost_are_failed(tmp_path: Path) -> None:
    env = project_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", **FAST)
    env.pop("REDIS_URL", None)
    prepare_database(env)
    # What a server killed mid-way leaves behind: a queued job, and a running one with an old heartbeat.
    created = manage(
        env,
        "shell",
        "-c",
        "from datetime import timedelta; from django.utils import timezone;"
        "from django.contrib.auth.models import User; from jobs.models import Job;"
        "u = User.objects.get(username='alice'); old = timezone.now() - timedelta(hours=1);"
        "q = Job.objects.create(owner=u, kind='primes', params={'below': 10});"
        "r = Job.objects.create(owner=u, kind='primes', params={'below': 10}, status='running',"
        " started=old, heartbeat=old);"
        "print(q.pk, r.pk)",
    ).stdout.split()
    queued, running = created[-2:]
    with DaphneServer(env, log_path=tmp_path / "daphne.log") as server:
        alice = login(server.url, "alice")
        try:
            lost = wait_for(
                lambda: (j := alice.get(f"/api/jobs/{queued}/").json())["status"] == "failed" and j,
                what="the lost queued job to fail",
            )
            assert lost["error"] == "the server restarted before the job ran; start it again"
            stale = alice.get(f"/api/jobs/{running}/").json()
            assert stale["status"] == "failed" and "stopped responding" in stale["error"]
        finally:
            alice.close()
