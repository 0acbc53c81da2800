"""Done-when item 6 and the rest of the API: who sees what, kinds, the CSV report and its download."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import httpx

from tests.jobs.conftest import sse_events, start_job, wait_for
from tests.servers import DaphneServer


def _finished(client: httpx.Client, job_id: str) -> dict:
    return wait_for(
        lambda: (j := client.get(f"/api/jobs/{job_id}/").json())["status"] in ("succeeded", "failed") and j,
        what="the job to finish",
    )


def test_bob_cannot_see_stream_cancel_or_download_alices_job_but_staff_can(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client]
) -> None:
    alice, bob, admin = users("alice"), users("bob"), users("admin")
    report = start_job(alice, "report", dataset="jobs")
    done = _finished(alice, report["id"])
    assert done["status"] == "succeeded", done
    running = start_job(alice, "primes", below=10**9)
    try:
        for job in (report, running):
            jid = job["id"]
            assert bob.get(f"/api/jobs/{jid}/").status_code == 404
            assert bob.get(f"/jobs/{jid}/").status_code == 404
            assert bob.get(f"/jobs/{jid}/stream/").status_code == 404
            assert bob.get(f"/sse/stream/?channel=jobs.job.{jid}").status_code == 404
            assert bob.post(f"/api/jobs/{jid}/cancel/").status_code == 404
            assert bob.post(f"/jobs/{jid}/cancel/").status_code == 404
            assert bob.get(f"/jobs/{jid}/download/").status_code == 404
            assert jid not in bob.get("/api/jobs/").text
            assert jid not in bob.get("/jobs/").text
            # Staff see it all.
            assert admin.get(f"/api/jobs/{jid}/").json()["owner"] == "alice"
            assert admin.get(f"/jobs/{jid}/").status_code == 200
        assert bob.get(f"/jobs/{report['id']}/download/").status_code == 404
        assert admin.get(f"/jobs/{report['id']}/download/").status_code == 200
        with admin.stream("GET", running["stream_url"], timeout=60) as response:
            assert response.status_code == 200
            assert next(sse_events(response))["event"] == "progress"
        # bob's refused cancel left it alone; staff may cancel it. On a busy machine the
        # sieve may have finished by now: then the cancel is a 409, never a 404.
        assert alice.get(f"/api/jobs/{running['id']}/").json()["status"] in ("running", "succeeded")
        cancelled = admin.post(f"/api/jobs/{running['id']}/cancel/")
        assert cancelled.status_code in (200, 409), cancelled.text
        if cancelled.status_code == 200:
            assert alice.get(f"/api/jobs/{running['id']}/").json()["status"] == "cancelled"
    finally:
        alice.post(f"/api/jobs/{running['id']}/cancel/")
    # Not signed in: 401/403 from the API, 401 from the stream, never a redirect for a stream.
    anonymous = httpx.Client(base_url=jobs_site.url)
    assert anonymous.get(f"/jobs/{report['id']}/stream/").status_code == 401
    assert anonymous.get(f"/api/jobs/{report['id']}/").status_code in (401, 403)
    assert anonymous.post("/api/jobs/", json={"kind": "primes", "params": {"below": 10}}).status_code in (
        401,
        403,
    )
    anonymous.close()
    # Session writes need the CSRF token.
    no_csrf = httpx.Client(base_url=jobs_site.url, cookies=alice.cookies)
    refused = no_csrf.post("/api/jobs/", json={"kind": "primes", "params": {"below": 10}})
    assert refused.status_code == 403 and "CSRF" in refused.text
    no_csrf.close()


def test_kinds_describe_their_parameters(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client]
) -> None:
    kinds = {k["name"]: k for k in users("alice").get("/api/jobs/kinds/").json()}
    assert set(kinds) == {"primes", "report", "column_sum", "steps"}
    (below,) = kinds["primes"]["params"]
    assert below | {"help": ""} == {
        "name": "below", "label": "Below", "type": "integer", "required": True, "help": "",
        "default": 10_000_000, "min": 2, "max": 10**9,
    }  # fmt: skip
    assert kinds["report"]["params"][0]["choices"] == ["jobs"]
    staff_kinds = {k["name"]: k for k in users("admin").get("/api/jobs/kinds/").json()}
    assert staff_kinds["report"]["params"][0]["choices"] == ["jobs", "users", "events"]


def test_csv_report_downloads_the_databases_own_rows(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client]
) -> None:
    admin = users("admin")
    job = start_job(admin, "report", dataset="users")
    done = _finished(admin, job["id"])
    assert done["status"] == "succeeded", done
    assert done["download_url"] == f"/jobs/{job['id']}/download/"
    assert done["result"]["download_url"] == done["download_url"]
    answer = admin.get(done["download_url"])
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == f'attachment; filename="{done["result"]["file"]}"'
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert {r["username"] for r in rows} >= {"alice", "bob", "admin"}
    assert done["result"]["rows"] == len(rows) == done["total"] == done["done"]


def test_list_page_form_errors_show_next_to_the_field_without_javascript(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client]
) -> None:
    alice = users("alice")
    page = alice.post(
        "/jobs/",
        data={"csrfmiddlewaretoken": alice.cookies["csrftoken"], "kind": "primes", "primes-below": "1"},
    )
    assert page.status_code == 400
    assert 'data-errors-for="below"><li>Ensure this value is greater than or equal to 2.</li>' in page.text
    started = alice.post(
        "/jobs/",
        data={"csrfmiddlewaretoken": alice.cookies["csrftoken"], "kind": "primes", "primes-below": "1000"},
    )
    assert started.status_code == 302 and started.headers["location"].startswith("/jobs/")
    job_id = started.headers["location"].split("/")[2]
    assert _finished(alice, job_id)["result"] == {"count": 168}


def test_admin_shows_progress_read_only_and_cancels(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client]
) -> None:
    alice, admin = users("alice"), users("admin")
    job = start_job(alice, "primes", below=10**9)
    try:
        listing = admin.get("/admin/jobs/job/")
        assert listing.status_code == 200 and "<progress" in listing.text and job["id"] in listing.text
        change = admin.get(f"/admin/jobs/job/{job['id']}/change/")
        assert change.status_code == 200
        assert 'name="done"' not in change.text, "progress is read-only"
        answer = admin.post(
            "/admin/jobs/job/",
            data={
                "csrfmiddlewaretoken": admin.cookies["csrftoken"],
                "action": "cancel_jobs",
                "_selected_action": job["id"],
            },
        )
        assert answer.status_code == 302
        assert alice.get(f"/api/jobs/{job['id']}/").json()["status"] == "cancelled"
        assert users("bob").get("/admin/jobs/job/").status_code == 302  # not staff: the admin login
    finally:
        alice.post(f"/api/jobs/{job['id']}/cancel/")
