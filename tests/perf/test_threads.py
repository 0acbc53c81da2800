"""Open streams hold no OS thread each, and ordinary views still work beside them.

A real Daphne serves the project; 500 streams come from raw asyncio sockets.
Django's stock handler would run ~500 threads here (one per in-flight request);
sse.server.asgi's handler keeps the count flat.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.sseload import Load, stream_request
from tests.project.conftest import login
from tests.servers import DaphneServer, prepare_database, project_env

STREAMS = 500
# Daphne's loop thread, the shared stream thread, the hub's two log threads,
# asyncio's default pool and a few for ordinary requests: far below one per stream.
MAX_THREADS = 40


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads: line")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DaphneServer]:
    env = project_env(
        f"sqlite:///{tmp_path / 'db.sqlite3'}",
        SSE_MAX_STREAMS_PER_USER="0",
        SSE_MAX_STREAMS_PER_PROCESS="0",
        SSE_HEARTBEAT_SECONDS="30",
    )
    prepare_database(env)
    with DaphneServer(env, log_path=tmp_path / "daphne.log") as daphne:
        yield daphne


async def _wait_until(condition, timeout: float = 120.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(condition):
            return True
        await asyncio.sleep(0.2)
    return False


async def test_500_streams_hold_no_thread_each_and_ordinary_views_work(server: DaphneServer) -> None:
    assert server.proc is not None
    pid = server.proc.pid
    alice = await asyncio.to_thread(login, server.url, "alice")
    admin = await asyncio.to_thread(login, server.url, "admin")
    cookie = "; ".join(f"{k}={v}" for k, v in alice.cookies.items())
    load = Load()
    try:
        # Two kinds of stream URL: the generic one and an app's own.
        paths = ["/sse/stream/?channel=broadcast", "/notifications/stream/"]
        for path in paths:
            request = stream_request("127.0.0.1", server.port, path, [("Cookie", cookie)])
            result = await load.connect(server.port, request, STREAMS // 2, concurrency=25)
            assert result.opened == STREAMS // 2, (path, result)
        assert load.open_count == STREAMS

        threads = threads_of(pid)
        assert threads < MAX_THREADS, f"{threads} threads with {STREAMS} open streams"

        # Ordinary views on the same server, while the streams stay open.
        def ordinary_views() -> None:
            assert alice.get("/accounts/login/").status_code == 200
            assert admin.get("/admin/").status_code == 200
            assert admin.get("/admin/auth/user/").status_code == 200
            token = alice.post("/api/sse/tokens/", json={"channels": ["broadcast"]})
            assert token.status_code == 201, token.text
            stats = admin.get("/api/sse/stats/")
            assert stats.status_code == 200, stats.text
            assert stats.json()["streams"] >= STREAMS
            sent = admin.post(
                "/api/sse/publish/", json={"channel": "broadcast", "event": "bench", "data": {"b": 1}}
            )
            assert sent.status_code == 201, sent.text

        await asyncio.to_thread(ordinary_views)
        # The broadcast reaches every open stream.
        assert await load.wait_for(1, STREAMS, timeout=120), len(load.arrivals[1])
        assert load.lost == 0

        # Still flat after the ordinary requests and the broadcast.
        threads = threads_of(pid)
        assert threads < MAX_THREADS, f"{threads} threads after ordinary requests"
    finally:
        load.close_all()
        alice.close()
        admin.close()

    # Closed streams leave the hub, and the server keeps serving.
    def hub_empty() -> bool:
        client = login(server.url, "admin")
        try:
            return bool(client.get("/api/sse/stats/").json()["streams"] == 0)
        finally:
            client.close()

    assert await _wait_until(hub_empty), "streams did not leave the hub after their clients closed"
