"""Done-when 4: the dashboard's open-streams figure follows streams opening and closing;
/metrics is valid Prometheus text."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sse.testing import EventParser, ReceivedEvent
from tests.project.conftest import login
from tests.servers import DaphneServer, prepare_database, project_env

STREAMS = 20


@pytest.fixture(scope="module")
def quiet_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    """A server of its own, so no other test's streams move the figures."""
    tmp = tmp_path_factory.mktemp("dashboard")
    env = project_env(f"sqlite:///{tmp / 'db.sqlite3'}", SSE_HEARTBEAT_SECONDS="1")
    prepare_database(env)
    with DaphneServer(env, log_path=tmp / "daphne.log") as server:
        yield server


def async_client(site: DaphneServer, username: str) -> httpx.AsyncClient:
    signed_in = login(site.url, username)
    client = httpx.AsyncClient(
        base_url=site.url,
        cookies=signed_in.cookies,
        headers={"X-CSRFToken": signed_in.cookies["csrftoken"], "Referer": site.url + "/"},
        timeout=httpx.Timeout(30.0),
        limits=httpx.Limits(max_connections=64),
    )
    signed_in.close()
    return client


class MetricsEvents:
    def __init__(self, response: httpx.Response) -> None:
        self.chunks = response.aiter_raw()
        self.parser = EventParser()
        self.pending: list[ReceivedEvent] = []

    async def next(self, timeout: float = 30.0) -> dict[str, Any]:
        """The data of the next ``metrics`` event."""

        async def read() -> dict[str, Any]:
            while True:
                while self.pending:
                    event = self.pending.pop(0)
                    if event.event == "metrics":
                        return event.json()  # type: ignore[no-any-return]
                chunk = await anext(self.chunks, None)
                if chunk is None:
                    raise EOFError("dashboard stream ended")
                self.pending = self.parser.feed(chunk)

        return await asyncio.wait_for(read(), timeout)


@contextlib.asynccontextmanager
async def dashboard(client: httpx.AsyncClient) -> AsyncIterator[MetricsEvents]:
    async with client.stream("GET", "/dashboard/stream/") as response:
        assert response.status_code == 200
        yield MetricsEvents(response)


class OpenStream:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        # Keep the iterator: a dropped async generator is finalised, which closes the response.
        self.chunks = response.aiter_raw()

    async def aclose(self) -> None:
        await self.response.aclose()


async def open_stream(client: httpx.AsyncClient, **kwargs: Any) -> tuple[OpenStream, bytes]:
    response = await client.send(client.build_request("GET", "/notifications/stream/", **kwargs), stream=True)
    assert response.status_code == 200
    stream = OpenStream(response)
    # The opening block comes after the hub subscribed this stream.
    return stream, await anext(stream.chunks)


async def open_streams(client: httpx.AsyncClient, n: int) -> list[OpenStream]:
    opened = await asyncio.gather(*(open_stream(client) for _ in range(n)))
    return [stream for stream, _ in opened]


async def test_open_streams_figure_follows_20_streams(quiet_site: DaphneServer) -> None:
    staff = async_client(quiet_site, "admin")
    alice = async_client(quiet_site, "alice")
    try:
        async with dashboard(staff) as events:
            first = await events.next()
            baseline = first["streams"]  # the dashboard stream itself
            assert baseline >= 1
            assert first["by_kind"].get("dashboard") == 1

            opened = await open_streams(alice, STREAMS)
            all_open = time.time()
            # Figures are taken and published once a second, each stamped with the time it was
            # taken (same machine, same clock): skip those queued before every stream was open.
            # The first one taken after must already count all 20 (so it moves within a tick).
            figures = await events.next()
            while figures["time"] < all_open:
                figures = await events.next()
            assert figures["streams"] == baseline + STREAMS
            assert figures["by_kind"]["notifications"] == STREAMS
            assert figures["by_kind"]["broadcast"] == STREAMS

            for response in opened:
                await response.aclose()
            # The server notices closed sockets on its own schedule: wait with a deadline.
            deadline = time.monotonic() + 30
            while True:
                figures = await events.next()
                if figures["streams"] == baseline:
                    break
                assert time.monotonic() < deadline, f"still {figures['streams']} open streams"
            assert "notifications" not in figures["by_kind"]
    finally:
        await staff.aclose()
        await alice.aclose()


async def test_metrics_parse_as_prometheus_text(quiet_site: DaphneServer) -> None:
    staff = async_client(quiet_site, "admin")
    alice = async_client(quiet_site, "alice")
    try:
        opened = await open_streams(alice, 3)
        answer = await staff.get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        families = {f.name: f for f in text_string_to_metric_families(answer.text)}
        assert {
            "sse_open_streams",
            "sse_open_streams_by_kind",
            "sse_events_published",
            "sse_events_delivered",
            "sse_slow_consumer_disconnects",
            "sse_resumes",
            "sse_resets",
            "sse_events_conflated",
            "sse_delivery_lag_seconds",
        } <= set(families)
        assert families["sse_open_streams"].samples[0].value >= 3
        kinds = {s.labels["kind"]: s.value for s in families["sse_open_streams_by_kind"].samples}
        assert kinds["notifications"] >= 3

        # An event that reaches open streams gives a publish-to-fan-out lag figure.
        sent = await staff.post("/api/notifications/", json={"user": "alice", "title": "lag probe"})
        assert sent.status_code == 201
        deadline = time.monotonic() + 30
        while True:
            text = (await staff.get("/metrics")).text
            lag = {
                s.labels["quantile"]: s.value
                for f in text_string_to_metric_families(text)
                if f.name == "sse_delivery_lag_seconds"
                for s in f.samples
            }
            if lag:
                break
            assert time.monotonic() < deadline, "no lag figure after a delivered event"
            await asyncio.sleep(0.2)
        assert set(lag) == {"0.5", "0.99"} and 0 <= lag["0.5"] <= lag["0.99"]
        for response in opened:
            await response.aclose()

        # Not staff: refused, with a plain message, never a redirect.
        refused = await alice.get("/metrics")
        assert refused.status_code == 403
        async with httpx.AsyncClient(base_url=quiet_site.url) as anonymous:
            assert (await anonymous.get("/metrics")).status_code == 401
            assert (await anonymous.get("/dashboard/stream/")).status_code == 401
        assert (await alice.get("/dashboard/stream/")).status_code == 403
        assert (await alice.get("/dashboard/")).status_code == 403
    finally:
        await staff.aclose()
        await alice.aclose()


async def test_resumes_and_resets_are_counted(quiet_site: DaphneServer) -> None:
    staff = async_client(quiet_site, "admin")
    alice = async_client(quiet_site, "alice")
    try:
        before = await metric_values(staff)
        # A resume from an id this server sent, then a reset from a made-up one.
        stream, opening = await open_stream(alice)
        await stream.aclose()
        parser = EventParser()
        parser.feed(opening)
        cursor = parser.last_event_id
        for last_id in (cursor, "made-up"):
            resumed, _ = await open_stream(alice, headers={"Last-Event-ID": last_id})
            await resumed.aclose()
        after = await metric_values(staff)
        assert after["sse_resumes_total"] == before["sse_resumes_total"] + 1
        assert after["sse_resets_total"] == before["sse_resets_total"] + 1
    finally:
        await staff.aclose()
        await alice.aclose()


async def metric_values(client: httpx.AsyncClient) -> dict[str, float]:
    text = (await client.get("/metrics")).text
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


def test_dashboard_page_renders_figures(quiet_site: DaphneServer, tmp_path: Path) -> None:
    staff = login(quiet_site.url, "admin")
    try:
        page = staff.get("/dashboard/")
        assert page.status_code == 200
        assert 'id="fig-streams"' in page.text and "open streams" in page.text
    finally:
        staff.close()
    with httpx.Client(base_url=quiet_site.url) as anonymous:
        answer = anonymous.get("/dashboard/")
        assert answer.status_code == 302 and "/accounts/login/" in answer.headers["location"]
