"""Streams through nginx (deploy/nginx/) in front of two Daphne processes sharing Redis.

Every event must come through unbuffered: the heartbeat is set to 60 s, so an
event that nginx held back would only be pushed out by the next comment (or a
full buffer); each read gives up well before that.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import httpx
import pytest

from bench.cluster import NGINX, Cluster
from sse.testing import EventParser, ReceivedEvent
from tests.project.conftest import login

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(
        shutil.which(NGINX) is None, reason="nginx is not installed (scripts/system-packages)"
    ),
]

HEARTBEAT = 60
READ_DEADLINE = 20  # < HEARTBEAT: a buffered event times out the read instead of arriving
STREAMS = 4
EVENTS = 12


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(2, SSE_HEARTBEAT_SECONDS=str(HEARTBEAT)) as running:
        yield running


class StreamEvents:
    """One stream's events as they come (sse.testing's parser)."""

    def __init__(self, response: httpx.Response) -> None:
        self.chunks = response.iter_raw()
        self.parser = EventParser()
        self.pending: list[ReceivedEvent] = []


def next_event(stream: StreamEvents) -> dict[str, str]:
    """The next event with data (comments and the opening retry/id block are skipped)."""
    while not stream.pending:
        chunk = next(stream.chunks, None)
        if chunk is None:
            raise AssertionError("the stream ended")
        stream.pending = stream.parser.feed(chunk)
    event = stream.pending.pop(0)
    return {"event": event.event, "id": event.id, "data": event.data}


def test_every_event_comes_through_nginx_unbuffered_and_in_order(cluster: Cluster) -> None:
    alice = login(cluster.url, "alice")
    admin = login(cluster.url, "admin")
    clients: list[httpx.Client] = []
    responses: list[httpx.Response] = []
    try:
        readers = []
        for _ in range(STREAMS):
            # One client each: separate connections, so nginx spreads them over both Daphnes.
            client = httpx.Client(
                base_url=cluster.url, cookies=alice.cookies, timeout=httpx.Timeout(READ_DEADLINE)
            )
            clients.append(client)
            response = client.send(client.build_request("GET", "/sse/stream/?channel=broadcast"), stream=True)
            responses.append(response)
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert "content-length" not in response.headers
            readers.append(StreamEvents(response))

        # Each Daphne holds some of the streams, so events cross processes through Redis.
        per_process = []
        for daphne in cluster.daphnes:
            direct = login(daphne.url, "admin")
            try:
                per_process.append(direct.get("/api/sse/stats/").json()["streams"])
            finally:
                direct.close()
        assert all(n >= 1 for n in per_process), per_process

        last_ids: dict[int, str] = {}
        for number in range(1, EVENTS + 1):
            # The publish itself goes through nginx to either Daphne.
            sent = admin.post(
                "/api/sse/publish/",
                json={"channel": "broadcast", "event": "bench", "data": {"b": number}},
            )
            assert sent.status_code == 201, sent.text
            for index, stream in enumerate(readers):
                try:
                    event = next_event(stream)
                except httpx.ReadTimeout:
                    pytest.fail(f"stream {index} did not get event {number} within {READ_DEADLINE}s")
                assert event.get("event") == "bench"
                # In order and none twice: exactly the event just published.
                assert json.loads(event["data"]) == {"b": number}, (index, event)
                assert event.get("id") and event["id"] != last_ids.get(index), (event, last_ids.get(index))
                last_ids[index] = event["id"]  # changed: this event carried an id of its own
    finally:
        for response in responses:
            response.close()
        for client in clients:
            client.close()
        alice.close()
        admin.close()
