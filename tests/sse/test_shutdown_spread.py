"""A shutdown sends each stream away with a ``retry:`` of its own, and listens with a deep backlog.

Browsers reconnect after exactly the ``retry:`` they were last sent, and keep that
pace while the server is down: were every stream told the same, every client
would arrive at the restarted process in the same instant.
"""

from __future__ import annotations

import gc
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.test import override_settings

from sse.hub.gc_tuning import tune_gc
from sse.server.daphne import with_backlog
from tests.sse.conftest import Site, running_site

STREAMS = 20
RETRY_MS = 2000
SPREAD_MS = 3000


@pytest.fixture
def spread_site(tmp_path: Path) -> Iterator[Site]:
    with running_site(
        tmp_path, SSE_RETRY_MS=str(RETRY_MS), SSE_SHUTDOWN_RETRY_SPREAD_MS=str(SPREAD_MS)
    ) as site:
        yield site


def test_each_stream_is_told_its_own_moment_to_come_back(spread_site: Site) -> None:
    site = spread_site
    cookies = site.client("alice").cookies
    bodies: list[bytes] = [b""] * STREAMS
    opened = threading.Barrier(STREAMS + 1, timeout=60)

    def read(index: int) -> None:
        with httpx.Client(base_url=site.url, cookies=cookies, timeout=httpx.Timeout(10, read=60)) as client:
            with client.stream("GET", "/sse/stream/", params={"channel": "public"}) as response:
                assert response.status_code == 200
                chunks = response.iter_raw()
                bodies[index] = next(chunks)
                opened.wait()
                for chunk in chunks:  # until the server ends the stream
                    bodies[index] += chunk

    threads = [threading.Thread(target=read, args=(n,), daemon=True) for n in range(STREAMS)]
    for thread in threads:
        thread.start()
    opened.wait()
    site.server.stop(signal.SIGTERM)
    for thread in threads:
        thread.join(60)
    last_retries = []
    for body in bodies:
        values = [int(v) for v in re.findall(rb"^retry: (\d+)$", body, re.M)]
        assert len(values) >= 2, f"no retry: at the end of {body!r}"
        last_retries.append(values[-1])
    assert all(RETRY_MS <= ms <= RETRY_MS + SPREAD_MS for ms in last_retries), last_retries
    assert len(set(last_retries)) > STREAMS // 2, f"the retries were not spread: {sorted(last_retries)}"


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("tcp:port=8000:interface=127.0.0.1", "tcp:port=8000:interface=127.0.0.1:backlog=2048"),
        ("unix:/run/app.sock", "unix:/run/app.sock:backlog=2048"),
        ("tcp:port=8000:backlog=64", "tcp:port=8000:backlog=64"),
        ("fd:domain=INET:fileno=3", "fd:domain=INET:fileno=3"),
    ],
)
def test_listening_endpoints_get_the_backlog_setting_unless_they_name_one(
    endpoint: str, expected: str
) -> None:
    assert with_backlog(endpoint) == expected


def test_the_collector_is_tuned_unless_the_setting_is_0() -> None:
    before = gc.get_threshold()
    try:
        with override_settings(SSE_GC_THRESHOLD=0):
            tune_gc()
        assert gc.get_threshold() == before
        with override_settings(SSE_GC_THRESHOLD=40000):
            tune_gc()
        assert gc.get_threshold() == (40000, 20, 100)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_response_in_flight_at_sigterm_still_gets_its_answer(tmp_path: Path) -> None:
    # Daphne cancels every application still running once its own shutdown begins; sse.server.shutdown
    # waits for the streams first, and under python -m sse.daphne for the other responses too.
    with running_site(tmp_path) as site:
        client = site.client("alice")
        answers: list[httpx.Response] = []
        with client.stream("GET", "/sse/stream/", params={"channel": "public"}, timeout=60) as stream:
            assert stream.status_code == 200  # the hub runs: sse.server.shutdown is in front of SIGTERM
            chunks = stream.iter_raw()
            next(chunks)
            slow = threading.Thread(
                target=lambda: answers.append(httpx.get(f"{site.url}/slow/?seconds=2", timeout=60)),
                daemon=True,
            )
            slow.start()
            time.sleep(0.5)  # the slow request is in flight
            site.server.stop(signal.SIGTERM)
            for _ in chunks:  # the stream ends cleanly
                pass
        slow.join(60)
    assert [(answer.status_code, answer.text) for answer in answers] == [(200, "done\n")]
