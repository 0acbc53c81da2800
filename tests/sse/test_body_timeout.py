"""sse.server.body_timeout, in process: a request body too slow to come gets a 408.

The ASGI application is driven directly; ``receive`` hands out the body the way a test
says (pieces, gaps between them). This module is the URLconf of its requests. Over real
servers: tests/deploy/test_slow_clients.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from asgiref.sync import SyncToAsync
from django.http import HttpRequest, HttpResponse
from django.test import override_settings
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from sse.server.asgi import StreamingASGIHandler
from sse.server.body_timeout import TIMED_OUT_BODY
from tests.sse.asgi_scope import http_scope

TIMEOUT = 0.5


@csrf_exempt
def echo(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"{request.method} {len(request.body)}")


urlpatterns = [path("echo/", echo)]


@pytest.fixture
def handler() -> Iterator[StreamingASGIHandler]:
    with override_settings(
        ROOT_URLCONF=__name__, SSE_BODY_TIMEOUT_SECONDS=TIMEOUT, SSE_BODY_MIN_BYTES_PER_SECOND=10_000
    ):
        made = StreamingASGIHandler(stream_paths=[r"/stream/$"])
        try:
            yield made
        finally:
            for context in [made._stream_context, *made._request_contexts]:
                executor = SyncToAsync.context_to_thread_executor.pop(context, None)
                if executor is not None:
                    executor.shutdown()


def echo_scope(method: str, length: int) -> dict[str, Any]:
    return http_scope("/echo/", method=method, headers=[(b"content-length", str(length).encode())])


async def serve(
    handler: StreamingASGIHandler, method: str, pieces: list[bytes], gap: float
) -> tuple[int, bytes, list[Mapping[str, Any]]]:
    """Run one request whose body comes in ``pieces``, ``gap`` seconds apart; its status,
    its body, and what the application's ``receive`` handed on."""
    queue = [
        {"type": "http.request", "body": b, "more_body": n < len(pieces) - 1} for n, b in enumerate(pieces)
    ]
    sent: list[Mapping[str, Any]] = []
    received: list[Mapping[str, Any]] = []

    async def receive() -> Mapping[str, Any]:
        if queue:
            if len(queue) < len(pieces):
                await asyncio.sleep(gap)
            message = queue.pop(0)
        else:
            await asyncio.Event().wait()  # the client stays: no http.disconnect
            raise AssertionError("unreachable")
        received.append(message)
        return message

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(handler(echo_scope(method, sum(map(len, pieces))), receive, send), 30)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, received


async def test_a_body_that_trickles_past_the_timeout_gets_408(handler: StreamingASGIHandler) -> None:
    status, body, received = await serve(handler, "POST", [b"a"] * 100, gap=0.2)
    assert (status, body) == (408, TIMED_OUT_BODY)
    assert len(received) < 10  # cut at the deadline, not after the whole body


async def test_the_408_closes_the_connection(handler: StreamingASGIHandler) -> None:
    sent: list[Mapping[str, Any]] = []

    async def receive() -> Mapping[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(handler(echo_scope("POST", 10), receive, send), 30)
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in sent[0]["headers"]
    assert len(sent) == 2  # the 408 and its body: nothing from Django after it


async def test_a_body_that_keeps_the_rate_earns_time(handler: StreamingASGIHandler) -> None:
    # 20 pieces of 2 KB, 0.05 s apart: 1 s in all, twice the timeout, at 40 KB/s (> 10 KB/s)
    status, body, _ = await serve(handler, "POST", [b"b" * 2048] * 20, gap=0.05)
    assert (status, body) == (200, b"POST 40960")


async def test_a_body_in_time_and_a_get_are_served(handler: StreamingASGIHandler) -> None:
    assert (await serve(handler, "POST", [b"c" * 100, b"d" * 100], gap=0.1))[:2] == (200, b"POST 200")
    assert (await serve(handler, "GET", [b""], gap=0))[:2] == (200, b"GET 0")


async def test_after_the_body_receive_is_not_bounded(handler: StreamingASGIHandler) -> None:
    """A GET's body is complete at once: later receives (a stream waiting for its client to
    go) are the server's own, however long after."""
    from sse.server.body_timeout import bounded_receive

    async def receive() -> Mapping[str, Any]:
        await asyncio.sleep(0.1 if calls else 0)
        calls.append(1)
        return (
            {"type": "http.request", "body": b"", "more_body": False}
            if len(calls) == 1
            else {"type": "http.disconnect"}
        )

    async def send(message: Mapping[str, Any]) -> None:
        raise AssertionError("nothing is sent")

    calls: list[int] = []
    bounded = bounded_receive(echo_scope("GET", 0), receive, send)
    assert (await bounded())["type"] == "http.request"
    await asyncio.sleep(TIMEOUT * 2)
    assert (await bounded())["type"] == "http.disconnect"


async def test_zero_turns_it_off(handler: StreamingASGIHandler) -> None:
    with override_settings(SSE_BODY_TIMEOUT_SECONDS=0):
        status, body, _ = await serve(handler, "POST", [b"e"] * 5, gap=0.2)
    assert (status, body) == (200, b"POST 5")
