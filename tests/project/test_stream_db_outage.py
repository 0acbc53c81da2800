"""PostgreSQL stopped for a few seconds under a running server: a stream asked for
meanwhile answers 200 + ``retry:`` + end (a browser's EventSource comes back; a 500
would make it give up for good), and streams already open are not ended by the
access re-check, which gets no answer from the database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.delivery.conftest import PostgresCluster
from tests.project.conftest import login
from tests.project.test_access_follows_user import OpenStream
from tests.servers import DaphneServer, prepare_database, project_env, wait_for_port


class RestartablePostgres(PostgresCluster):
    """A throwaway cluster that can be stopped and started again on the same port and data."""

    def options(self) -> str:
        return (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off"
        )

    def pause(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            self.options(),
            "-l",
            str(self.dir / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        wait_for_port(self.port)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RestartablePostgres]:
    pg = RestartablePostgres()
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()


STREAMS = ["/chat/lobby/stream/", "/notifications/stream/", "/sse/stream/?channel=broadcast"]


def test_streams_asked_for_during_a_database_outage_are_told_to_come_back(
    cluster: RestartablePostgres, tmp_path: Path
) -> None:
    env = project_env(
        cluster.create_database(),
        settings="tests.project.access_settings",
        SSE_ACCESS_RECHECK_SECONDS="1",
        SSE_HEARTBEAT_SECONDS="1",
    )
    prepare_database(env)
    with DaphneServer(env, log_path=tmp_path / "daphne.log") as server:
        alice = login(server.url, "alice")
        admin = login(server.url, "admin")
        kept = OpenStream(server, "/chat/lobby/stream/", cookies=alice.cookies)
        try:
            assert kept.status == 200
            cluster.pause()
            try:
                for path in STREAMS:
                    with alice.stream("GET", path, timeout=30) as response:
                        body = response.read()
                    assert response.status_code == 200, (path, response.status_code, body[:300])
                    assert response.headers["content-type"].startswith("text/event-stream"), path
                    assert body.startswith(b"retry: "), (path, body[:300])
                # An access re-check runs meanwhile and gets no answer: it must end nothing.
                deadline = time.monotonic() + 60
                while "re-checking open streams' sessions failed" not in server.log():
                    assert time.monotonic() < deadline, "no access re-check ran during the outage"
                    time.sleep(0.2)
                assert not kept.ended.is_set(), "a re-check without an answer ended an open stream"
            finally:
                cluster.resume()
            # Back: streams open again, and the one kept open still delivers.
            with alice.stream("GET", "/notifications/stream/", timeout=30) as response:
                assert response.status_code == 200
                first = next(response.iter_raw())
                assert first.startswith(b"retry: ") and b"\nid: " in first, first
            assert admin.post("/api/chat/lobby/messages/", json={"body": "after"}).status_code == 201
            kept.wait_for("message")
        finally:
            kept.close()
        assert "Internal Server Error" not in server.log(), server.log()[-3000:]
