"""sse.server.asgi's send timeout, in process: a stream whose send() waits too long is cut off.

The ASGI application is driven directly; its ``send`` stands for a server whose send
waits while the client's buffer is full (uvicorn, hypercorn, granian): it blocks on the
body messages a test chooses. This module is the URLconf of its requests. The servers
themselves: tests/deploy/test_slow_consumer.py.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import pytest
from asgiref.sync import SyncToAsync
from django.http import HttpRequest
from django.test import override_settings
from django.urls import path

from sse.server.asgi import StreamingASGIHandler
from sse.streams.response import EventStreamResponse
from tests.sse.asgi_scope import http_scope

# A stream token in the query string: the cut's log line below names the path without it.
TOKEN_QUERY = b"token=secret"


class _Body:
    closed: threading.Event | None = None  # set from whichever thread closes the response


async def stream(request: HttpRequest) -> EventStreamResponse:
    async def body() -> AsyncIterator[bytes]:
        for n in range(5):
            yield f"data: {n}\n\n".encode()

    def closed() -> None:  # where a hub stream unsubscribes
        if _Body.closed is not None:
            _Body.closed.set()

    return EventStreamResponse(body(), opening=False, heartbeat=0, on_close=closed)


urlpatterns = [path("events/stream/", stream), path("page/stream-like/", stream)]


@pytest.fixture
def handler() -> Iterator[StreamingASGIHandler]:
    with override_settings(ROOT_URLCONF=__name__, SSE_SEND_TIMEOUT_SECONDS=0.2):
        made = StreamingASGIHandler(stream_paths=[r"/stream/$"])
        _Body.closed = threading.Event()
        try:
            yield made
        finally:
            _Body.closed = None
            for context in [made._stream_context, *made._request_contexts]:
                executor = SyncToAsync.context_to_thread_executor.pop(context, None)
                if executor is not None:
                    executor.shutdown()


class Client:
    """The server side of one request: its send blocks for ``block`` seconds on body message
    number ``at`` (None: never blocks; ``float("inf")``: until the request ends)."""

    def __init__(self, at: int | None = None, block: float = float("inf")) -> None:
        self.at = at
        self.block = block
        self.bodies: list[bytes] = []
        self.complete = False
        self.connected = asyncio.Event()  # cleared: the client is gone

    async def receive(self) -> dict[str, Any]:
        if not self.connected.is_set():
            self.connected.set()
            return {"type": "http.request", "body": b"", "more_body": False}
        while self.connected.is_set():
            await asyncio.sleep(0.01)
        return {"type": "http.disconnect"}

    async def send(self, message: Mapping[str, Any]) -> None:
        if message["type"] != "http.response.body":
            return
        if len(self.bodies) == self.at:
            if self.block == float("inf"):
                await asyncio.Event().wait()
            await asyncio.sleep(self.block)
        self.bodies.append(message.get("body", b""))
        self.complete = not message.get("more_body", False)


async def test_a_send_that_waits_past_the_timeout_ends_the_stream_quietly(
    handler: StreamingASGIHandler, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(at=2)
    caplog.set_level(logging.INFO)

    async def serve() -> bool:
        await handler(http_scope("/events/stream/", query=TOKEN_QUERY), client.receive, client.send)
        # What uvicorn logs next in the request's task: dropped for a stream cut off here.
        logging.getLogger("uvicorn.error").error("ASGI callable returned without completing response.")
        return True

    assert await asyncio.wait_for(asyncio.create_task(serve()), 30)
    assert _Body.closed is not None and _Body.closed.is_set(), "the stream's body was never closed"
    assert client.bodies == [b"data: 0\n\n", b"data: 1\n\n"] and not client.complete
    lines = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        (
            "sse.asgi",
            "INFO",
            "cut off a stream (GET /events/stream/, client 127.0.0.1:50000) that read nothing for 0.2s; "
            "it resumes from its last id when it reads again",
        )
    ]


async def test_uvicorns_line_stays_for_requests_that_were_not_cut(
    handler: StreamingASGIHandler, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("uvicorn.error").error("ASGI callable returned without completing response.")
    assert [r.getMessage() for r in caplog.records] == ["ASGI callable returned without completing response."]


async def test_sends_that_wait_less_than_the_timeout_are_not_cut(handler: StreamingASGIHandler) -> None:
    client = Client(at=2, block=0.05)
    await asyncio.wait_for(
        handler(http_scope("/events/stream/", query=TOKEN_QUERY), client.receive, client.send), 30
    )
    assert client.complete and len(client.bodies) == 6


async def test_a_cancellation_from_the_server_still_cancels(handler: StreamingASGIHandler) -> None:
    # A server cancels a request's task (shutdown, or a disconnect it handles so): the
    # cancellation goes through, it is not taken for a cut.
    client = Client(at=1)
    task = asyncio.create_task(
        handler(http_scope("/events/stream/", query=TOKEN_QUERY), client.receive, client.send)
    )
    await asyncio.sleep(0.1)  # well inside the timeout: the send of body 1 waits
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)


async def test_only_stream_requests_are_timed(handler: StreamingASGIHandler) -> None:
    # Not under SSE_STREAM_PATHS: Django's own handling, a slow client is the server's business.
    client = Client(at=2, block=0.5)
    await asyncio.wait_for(
        handler(http_scope("/page/stream-like/", query=TOKEN_QUERY), client.receive, client.send), 30
    )
    assert client.complete and len(client.bodies) == 6
