"""200 clients open a stream on one channel and vanish: the server forgets them all."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from typing import Any

import httpx

from sse.auth.tokens import issue_token
from tests.sse.conftest import Site, site_fixture
from tests.sse.sse_client import StreamReader

CLIENTS = 200
CHANNEL = "public"


quiet_site = site_fixture(
    "quiet_site", "A server of its own, so no other test's stream is counted.", SSE_HEARTBEAT_SECONDS="1"
)


async def open_raw_stream(port: int, index: int, token: str, cookie: str) -> asyncio.StreamWriter:
    """A bare HTTP/1.1 stream request; returns once the ``retry:`` line is in."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if index % 3 == 0:
        auth = f"Authorization: Bearer {token}\r\n"
        path = f"/sse/stream/?channel={CHANNEL}"
    elif index % 3 == 1:
        auth = ""
        path = f"/sse/stream/?channel={CHANNEL}&token={token}"
    else:
        auth = f"Cookie: sessionid={cookie}\r\n"
        path = f"/sse/stream/?channel={CHANNEL}"
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n{auth}\r\n".encode()
    )
    await writer.drain()
    head = b""
    while b"retry: " not in head:
        chunk = await asyncio.wait_for(reader.read(4096), timeout=60)
        if not chunk:
            raise AssertionError(f"client {index}: connection closed after {head!r}")
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    return writer


def vanish(writer: asyncio.StreamWriter, index: int) -> None:
    """Drop the connection without reading what is queued: RST for most, FIN for some."""
    sock = writer.get_extra_info("socket")
    if index % 2 == 0 and sock is not None:
        # SO_LINGER 0: close() sends a reset, like a client whose machine went away.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def stats(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/api/sse/stats/")
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_for_stats(client: httpx.Client, done: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    figures = stats(client)
    while not done(figures):
        if time.monotonic() > deadline:
            raise AssertionError(f"hub stats did not settle in {timeout}s: {figures}")
        time.sleep(0.25)
        figures = stats(client)
    return figures


def test_two_hundred_clients_vanish_and_nothing_is_left(quiet_site: Site) -> None:
    staff = quiet_site.client("staff")
    alice = quiet_site.client("alice")
    token = issue_token(quiet_site.users["alice"], [CHANNEL]).token
    cookie = alice.cookies["sessionid"]

    async def scenario() -> None:
        writers = []
        # Open in batches so a loaded CPU is not flooded with 200 handshakes at once.
        for start in range(0, CLIENTS, 25):
            batch = range(start, min(start + 25, CLIENTS))
            writers += await asyncio.gather(
                *(open_raw_stream(quiet_site.server.port, i, token, cookie) for i in batch)
            )
        figures = await asyncio.to_thread(stats, staff)
        assert figures["streams"] == CLIENTS, figures
        assert figures["groups"] == 1 and figures["layer_members"] == 1, figures
        assert figures["users"] == 1, figures
        # Events nobody reads: each client's socket and queue hold something when it goes.
        for n in range(5):
            response = await asyncio.to_thread(
                staff.post,
                "/api/sse/publish/",
                json={"channel": CHANNEL, "data": {"n": n, "pad": "x" * 2000}},
            )
            assert response.status_code == 201, response.text
        for index, writer in enumerate(writers):
            vanish(writer, index)

    asyncio.run(scenario())
    figures = wait_for_stats(
        staff,
        lambda f: (
            (f["streams"], f["queued_frames"], f["groups"], f["layer_members"], f["users"]) == (0, 0, 0, 0, 0)
        ),
        timeout=90,
    )
    assert figures["queued_bytes"] == 0
    assert figures["delivered"] >= CLIENTS, figures  # the events did reach the 200 queues

    # The server is still healthy: a new stream on the same channel gets a new event.
    with alice.stream("GET", "/sse/stream/", params={"channel": CHANNEL}) as response:
        assert response.status_code == 200
        reader = StreamReader(response)
        assert reader.read_bytes(len(b"retry: ")) == b"retry: "
        staff.post("/api/sse/publish/", json={"channel": CHANNEL, "event": "after", "data": {}})
        assert [event.event for event in reader.events(1)] == ["after"]
    after = wait_for_stats(staff, lambda f: f["streams"] == 0 and f["groups"] == 0, timeout=60)
    assert after["layer_members"] == 0


async def request_and_vanish(port: int, index: int, token: str) -> None:
    """Send a stream request and drop the connection before (or while) the server answers."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /sse/stream/?channel={CHANNEL}&token={token} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    # Staggered: some go before the view runs, some while it subscribes, some as it answers.
    await asyncio.sleep((index % 50) * 0.001)
    vanish(writer, index)


def test_clients_gone_before_the_answer_leave_nothing_behind(quiet_site: Site) -> None:
    """A page that navigates away while its stream is being set up (login, then the next page)."""
    staff = quiet_site.client("staff")
    token = issue_token(quiet_site.users["alice"], [CHANNEL]).token

    async def scenario() -> None:
        for start in range(0, CLIENTS, 5):
            await asyncio.gather(
                *(request_and_vanish(quiet_site.server.port, i, token) for i in range(start, start + 5))
            )

    asyncio.run(scenario())
    figures = wait_for_stats(
        staff,
        lambda f: (f["streams"], f["groups"], f.get("layer_members", 0), f["users"]) == (0, 0, 0, 0),
        timeout=30,
    )
    assert figures["queued_frames"] == 0, figures
