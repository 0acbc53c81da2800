"""The per-user cap on unfinished jobs holds when many submissions race, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.jobs.conftest import cancel_all
from tests.project.conftest import login
from tests.servers import DaphneServer, manage

CAP = 20  # JOBS_MAX_ACTIVE_PER_USER's default
BIG = 10**9  # jobs that stay unfinished while the test looks


def _active_in_db(server: DaphneServer, username: str) -> int:
    out = manage(
        server.env,
        "shell",
        "-c",
        "from jobs.models import ACTIVE, Job;"
        f"print('ACTIVE', Job.objects.filter(owner__username={username!r}, status__in=ACTIVE).count())",
    ).stdout
    return int(out.split("ACTIVE")[-1])


def _check_cap(server: DaphneServer) -> None:
    """60 POST /api/jobs/ of bob, each on its own open connection, let go at once."""
    signed_in = login(server.url, "bob")
    try:
        cancel_all(signed_in)
        session = {"cookies": signed_in.cookies, "headers": signed_in.headers}
        clients = [httpx.Client(base_url=server.url, timeout=120, **session) for _ in range(60)]
        for client in clients:
            assert client.get("/api/jobs/kinds/").status_code == 200
        start = threading.Barrier(60)

        def post(client: httpx.Client) -> int:
            start.wait()
            answer = client.post("/api/jobs/", json={"kind": "primes", "params": {"below": BIG}})
            if answer.status_code == 429:
                assert "unfinished jobs" in answer.json()["detail"], answer.text
            return answer.status_code

        try:
            with ThreadPoolExecutor(60) as pool:
                codes = Counter(pool.map(post, clients))
        finally:
            for client in clients:
                client.close()
        active = _active_in_db(server, "bob")  # before the cleanup cancels them
    finally:
        cancel_all(signed_in)
        signed_in.close()
    assert codes == {201: CAP, 429: 60 - CAP}, codes
    assert active == CAP


def test_sixty_parallel_submissions_keep_to_the_cap_on_sqlite(jobs_site: DaphneServer) -> None:
    _check_cap(jobs_site)


def test_sixty_parallel_submissions_keep_to_the_cap_on_postgresql(jobs_pg_site: DaphneServer) -> None:
    _check_cap(jobs_pg_site)
