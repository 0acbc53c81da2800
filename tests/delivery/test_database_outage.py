"""PostgreSQL stopped under a running server: the JSON APIs answer 503 with Retry-After.

A real cluster of its own (the session's ``postgres`` stays up for the other tests),
stopped for a few seconds and started again on the same port while Daphne keeps
serving. During the outage the APIs answer JSON 503 with ``Retry-After`` (before:
Django's HTML 500 page); once the database is back they answer 201 again, the same
session still signed in, and nothing the failed requests began was written.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.delivery.conftest import DeliverySite, PostgresCluster, fresh_channels


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    own = PostgresCluster().start()
    try:
        yield own
    finally:
        own.stop()


def _pg_ctl(cluster: PostgresCluster, *args: str) -> None:
    cluster._run(str(cluster.bin / "pg_ctl"), "-D", str(cluster.data), *args)


def stop_postgres(cluster: PostgresCluster) -> None:
    # fast, not immediate: the cluster runs with synchronous_commit=off, and a crash would lose
    # the last commits, which is not the outage under test.
    _pg_ctl(cluster, "-m", "fast", "-w", "stop")


def start_postgres(cluster: PostgresCluster) -> None:
    options = (
        f"-p {cluster.port} -k {cluster.dir} -c listen_addresses=127.0.0.1 -c max_connections=200 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    _pg_ctl(cluster, "-o", options, "-l", str(cluster.dir / "server.log"), "-w", "-t", "60", "start")


def _client(site: DeliverySite, cookie: str) -> httpx.Client:
    csrf = "a" * 32
    return httpx.Client(
        base_url=site.url,
        timeout=60,
        headers={"Cookie": f"{cookie}; csrftoken={csrf}", "X-CSRFToken": csrf, "Referer": site.url + "/"},
    )


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert "retry" in response.json()["detail"]
    assert int(response.headers["Retry-After"]) > 0


def test_the_api_answers_503_json_during_a_database_outage_and_201_after(
    make_site: object, cluster: PostgresCluster
) -> None:
    site: DeliverySite = make_site(cluster.create_database())  # type: ignore[operator]
    [channel] = fresh_channels("outage", 1)
    with _client(site, site.staff_cookie) as staff, _client(site, site.cookie) as alice:
        first = staff.post("/api/sse/publish/", json={"channel": channel, "data": {"n": 1}})
        assert first.status_code == 201, first.text
        stop_postgres(cluster)
        try:
            for _ in range(3):
                assert_unavailable(
                    staff.post("/api/sse/publish/", json={"channel": channel, "data": {"n": 0}})
                )
                assert_unavailable(alice.post("/api/sse/tokens/", json={"channels": [channel]}))
                assert_unavailable(staff.get("/api/sse/stats/"))
            time.sleep(2)  # a few seconds of outage
        finally:
            start_postgres(cluster)
        # Back: the same sessions work, and the next event is seq 2 (nothing half-written).
        deadline = time.monotonic() + 60
        while True:
            again = staff.post("/api/sse/publish/", json={"channel": channel, "data": {"n": 2}})
            if again.status_code == 201 or time.monotonic() > deadline:
                break
            assert_unavailable(again)
            time.sleep(0.5)
        assert again.status_code == 201, again.text
        assert again.json()["id"].split(":")[1].startswith("2_"), (first.json(), again.json())
        token = alice.post("/api/sse/tokens/", json={"channels": [channel]})
        assert token.status_code in (201, 403), token.text  # answered, not a server error
    log = site.server.log()
    assert "Traceback" not in log, log[-3000:]
