"""Inputs that used to break a job for good: a huge error, a lone surrogate in params."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.jobs.conftest import cancel_all, wait_for
from tests.project.conftest import login
from tests.servers import DaphneServer, manage

CELL = 130_000  # characters of one bad CSV cell


def _finished(client: httpx.Client, job_id: str) -> dict[str, Any] | None:
    job = client.get(f"/api/jobs/{job_id}/").json()
    return job if job["status"] not in ("queued", "running") else None


@pytest.mark.parametrize("char", ["€", "\\"], ids=["euro", "backslash"])
def test_an_error_too_large_to_publish_still_ends_the_job_with_its_own_reason(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client], char: str
) -> None:
    # 130,000 of these take 390,000 bytes as JSON (three bytes, or an escaped pair, each):
    # more than one published event may hold (SSE_MAX_EVENT_BYTES, 256 KiB).
    alice = users("alice")
    cancel_all(alice)
    cell = char * CELL
    answer = alice.post(
        "/api/jobs/",
        json={"kind": "column_sum", "params": {"csv": f"item,amount\nbad,{cell}\n", "column": "amount"}},
    )
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["id"]
    with alice.stream("GET", answer.json()["stream_url"], timeout=120) as response:
        for line in response.iter_lines():
            if line == "event: failed":
                break
    # Not "the worker stopped responding" after JOBS_STALE_SECONDS: the job's own error.
    job = wait_for(lambda: _finished(alice, job_id), timeout=120, what="the job to end")
    assert job["status"] == "failed"
    assert job["error"].startswith(f"row 2: {char * 20!r}"[:-1]), job["error"][:200]
    assert job["error"].endswith("in column 'amount' is not a number"), job["error"][-200:]
    assert len(job["error"]) < 1000


def test_a_huge_job_error_is_cut_to_what_can_be_published(jobs_site: DaphneServer) -> None:
    # Any failure, not only column_sum's: fail_job keeps the start of the error and says it cut it.
    out = manage(
        jobs_site.env,
        "shell",
        "-c",
        "from django.contrib.auth.models import User; from jobs.models import Job;"
        "from jobs.outcomes import fail_job;"
        "job = Job.objects.create(owner=User.objects.get(username='alice'), kind='primes',"
        " params={'below': 10}, status='running');"
        "print('FAILED', fail_job(job.pk, 'boom ' + '€' * 200_000));"
        "job.refresh_from_db(); print('STATUS', job.status, len(job.error)); print('ERROR', job.error[-60:])",
    ).stdout
    assert "FAILED True" in out, out
    status = re.search(r"STATUS (\w+) (\d+)", out)
    assert status and status.group(1) == "failed" and int(status.group(2)) < 3000, out
    assert "(cut: the error had 200,005 characters)" in out, out


LONE_SURROGATE = b'{"kind":"column_sum","params":{"csv":"a\\ud800\\nx,1\\n","column":"a\\ud800"}}'


def _job_count(server: DaphneServer) -> int:
    out = manage(server.env, "shell", "-c", "from jobs.models import Job; print('JOBS', Job.objects.count())")
    return int(out.stdout.split("JOBS")[-1])


BODIES = [
    LONE_SURROGATE,
    b'{"kind":"column_sum","params":{"csv":"a,b\\n1,2\\n","column":"a","\\udfff":1}}',
    b'{"kind":"primes","params":{"below":10,"note":["\\ud83d"]}}',
]
BODY_IDS = ["in-values", "in-a-key", "nested"]


def _refused_and_nothing_stored(server: DaphneServer, body: bytes) -> httpx.Response:
    alice, admin = login(server.url, "alice"), login(server.url, "admin")
    try:
        before = _job_count(server)
        answer = alice.post("/api/jobs/", content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, answer.text
        assert "Unicode" in str(answer.json())  # a JSON message that says what is wrong
        assert _job_count(server) == before, "a refused submission stored a job"
        # Nothing broke: the list, the page and the admin still answer.
        assert alice.get("/api/jobs/").status_code == 200
        assert alice.get("/jobs/").status_code == 200
        assert admin.get("/admin/jobs/job/").status_code == 200
        return answer
    finally:
        alice.close()
        admin.close()


@pytest.mark.parametrize("body", BODIES, ids=BODY_IDS)
def test_a_lone_surrogate_in_params_gets_400_and_nothing_is_stored(
    jobs_site: DaphneServer, body: bytes
) -> None:
    _refused_and_nothing_stored(jobs_site, body)


@pytest.mark.parametrize("body", BODIES, ids=BODY_IDS)
def test_the_jobs_api_refuses_a_lone_surrogate_by_itself(plain_json_site: DaphneServer, body: bytes) -> None:
    # Under a JSON parser that lets "\\ud800" through, the jobs API's own check answers.
    answer = _refused_and_nothing_stored(plain_json_site, body)
    message = "params holds text that is not valid Unicode (a lone surrogate such as \\ud800)"
    assert answer.json() == {"params": {"non_field_errors": [message]}}


def test_the_jobs_page_form_never_stores_text_that_is_not_unicode(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client]
) -> None:
    alice = users("alice")
    page = alice.get("/jobs/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token
    # The bytes of an encoded surrogate (ED A0 80) are not UTF-8: the form gets U+FFFD, never "\ud800".
    form = (
        f"csrfmiddlewaretoken={token.group(1)}&kind=column_sum"
        "&column_sum-csv=a%ED%A0%80%0Ax%2C1%0A&column_sum-column=a%ED%A0%80"
    )
    answer = alice.post("/jobs/", content=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code in (302, 400), answer.text[:300]
    assert alice.get("/api/jobs/").status_code == 200
    assert alice.get("/jobs/").status_code == 200
    for job in alice.get("/api/jobs/").json()["results"]:
        assert alice.get(job["url"]).status_code == 200


def test_every_kinds_form_refuses_a_lone_surrogate() -> None:
    # The form each kind validates with, on the page and behind the API alike.
    from jobs.kinds import get_kind

    kind = get_kind("column_sum")
    assert kind is not None
    form = kind.form({"csv": "a\ud800\nx,1\n", "column": "a\ud800"}, user=None)
    assert not form.is_valid()
    assert set(form.errors) == {"csv", "column"}
    assert "not valid Unicode" in form.errors["csv"][0]
    assert form.errors.as_json()  # every message can be sent
    good = kind.form({"csv": "a\n1\n", "column": "a"}, user=None)
    assert good.is_valid(), good.errors
