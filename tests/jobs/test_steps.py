"""The `steps` kind: slow on purpose, reports "step i of n", and stops soon after a cancel."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from tests.jobs.conftest import sse_events, start_job, wait_for
from tests.servers import DaphneServer

STEP_MESSAGE = re.compile(r"step (\d+) of (\d+)")


def test_steps_reports_each_step_and_finishes(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client]
) -> None:
    bob = users("bob")
    job = start_job(bob, "steps", steps=4, seconds_per_step=0.2)
    assert job["params"] == {"steps": 4, "seconds_per_step": 0.2}

    with bob.stream("GET", job["stream_url"], timeout=60) as response:
        assert response.status_code == 200
        events = list(sse_events(response))  # ends by itself after the final event

    assert events[-1]["event"] == "complete"
    assert events[-1]["data"]["result"] == {"steps": 4}
    running = [e["data"] for e in events if e["event"] == "progress" and e["data"]["status"] == "running"]
    assert running, "the job reported progress while it ran"
    steps_seen = []
    for progress in running:
        match = STEP_MESSAGE.fullmatch(progress["message"])
        if progress["message"] == "started":  # the runner's own first word, before the kind reports
            continue
        assert match, f"progress messages read 'step i of n', got {progress['message']!r}"
        assert match[2] == "4"
        steps_seen.append(int(match[1]))
    assert steps_seen == sorted(steps_seen) and set(steps_seen) <= {1, 2, 3, 4}
    detail = bob.get(f"/api/jobs/{job['id']}/").json()
    assert detail["status"] == "succeeded"
    assert detail["message"] == "step 4 of 4"
    assert detail["done"] == detail["total"] > 0 and detail["percent"] == 100


def test_steps_can_be_cancelled_mid_way_and_stops(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client]
) -> None:
    alice = users("alice")
    # 120 steps of 5 s: ten minutes, so a job that ignored the cancel would still be running below.
    job = start_job(alice, "steps", steps=120, seconds_per_step=5)
    try:
        with alice.stream("GET", job["stream_url"], timeout=60) as response:
            events = sse_events(response)
            for event in events:
                data = event["data"]
                if event["event"] == "progress" and data["status"] == "running" and data["done"] > 0:
                    assert STEP_MESSAGE.fullmatch(data["message"]), data
                    break
            answer = alice.post(f"/api/jobs/{job['id']}/cancel/")
            assert answer.status_code == 200, answer.text
            rest = list(events)  # the stream ends after `cancelled`
        assert rest[-1]["event"] == "cancelled"
        assert rest[-1]["data"] == {"id": job["id"], "status": "cancelled"}

        # report() noticed: the job's code returned (the runner records `exited`) long before its end.
        stopped = wait_for(
            lambda: (d := alice.get(f"/api/jobs/{job['id']}/").json())["exited"] and d,
            what="the cancelled job's code to stop",
        )
        assert stopped["status"] == "cancelled"
        assert 0 < stopped["done"] < stopped["total"]
    finally:
        alice.post(f"/api/jobs/{job['id']}/cancel/")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"steps": 0, "seconds_per_step": 1}, "steps"),
        ({"steps": 121, "seconds_per_step": 1}, "steps"),
        ({"steps": 3, "seconds_per_step": 0.05}, "seconds_per_step"),
        ({"steps": 3, "seconds_per_step": 6}, "seconds_per_step"),
    ],
)
def test_steps_refuses_params_out_of_range(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client], params: dict[str, object], field: str
) -> None:
    answer = users("bob").post("/api/jobs/", json={"kind": "steps", "params": params})
    assert answer.status_code == 400
    assert set(answer.json()["params"]) == {field}


def test_steps_is_described_with_its_ranges_and_defaults(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client]
) -> None:
    kinds = {k["name"]: k for k in users("bob").get("/api/jobs/kinds/").json()}
    steps = kinds["steps"]
    assert steps["title"] == "Slow steps"
    params = {p["name"]: p for p in steps["params"]}
    assert (params["steps"]["min"], params["steps"]["max"], params["steps"]["default"]) == (1, 120, 30)
    seconds = params["seconds_per_step"]
    assert (seconds["min"], seconds["max"], seconds["default"]) == (0.1, 5, 1)
