"""Stream requests through StreamingASGIHandler: the Django request is let go once the view
returns, and everything else is as Django's own handler does it (sse.server.stream_handling)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.sync import SyncToAsync
from django.core.signals import request_finished
from django.http import HttpRequest, StreamingHttpResponse
from django.test import override_settings
from django.urls import path

from sse.server.asgi import StreamingASGIHandler
from tests.sse.asgi_scope import http_scope


class _Seen:
    request: weakref.ref[HttpRequest] | None = None
    body_files: list[Any] = []
    release = asyncio.Event()


async def held(request: HttpRequest) -> StreamingHttpResponse:
    _Seen.request = weakref.ref(request)
    _Seen.body_files.append(request._stream)  # type: ignore[attr-defined]
    release = _Seen.release

    async def body() -> AsyncIterator[bytes]:
        yield b"first\n"
        await release.wait()
        yield b"last\n"

    response = StreamingHttpResponse(body(), content_type="text/plain")
    response["X-Kept"] = "yes"
    return response


async def echo(request: HttpRequest) -> StreamingHttpResponse:
    _Seen.body_files.append(request._stream)  # type: ignore[attr-defined]

    async def body() -> AsyncIterator[bytes]:
        yield f"q={request.GET.get('q', '')}\n".encode()  # the body reads the request itself

    return StreamingHttpResponse(body())


urlpatterns = [path("held/stream/", held), path("echo/stream/", echo)]
URLCONF = override_settings(ROOT_URLCONF=__name__)


@pytest.fixture
def handler() -> Iterator[StreamingASGIHandler]:
    made = StreamingASGIHandler()
    yield made
    executor = SyncToAsync.context_to_thread_executor.pop(made._stream_context, None)
    if executor is not None:
        executor.shutdown()


class Client:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.first = asyncio.Event()
        self.requested = False
        self.gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        if not self.requested:
            self.requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if message.get("body"):
            self.first.set()

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


async def _collected(ref: weakref.ref[HttpRequest] | None, within: float = 10.0) -> bool:
    """Whether ``ref``'s request is collected within ``within`` seconds while the body streams.

    The middleware ran on a worker thread (``sync_to_async``), whose frames let go of the
    request only after the result has been handed to the loop: on a busy machine the first
    body chunk can go out a moment before that (1 run in 200 under ``stress-ng --cpu 2``).
    """
    assert ref is not None, "the view never ran"
    deadline = asyncio.get_running_loop().time() + within
    while True:
        gc.collect()
        if ref() is None:
            return True
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)


async def test_the_request_is_let_go_while_the_body_streams(handler: StreamingASGIHandler) -> None:
    _Seen.release = asyncio.Event()
    finished: list[object] = []

    def on_finished(sender: Any, **kwargs: Any) -> None:
        finished.append(sender)

    request_finished.connect(on_finished, dispatch_uid="test_stream_handling")
    client = Client()
    try:
        with URLCONF:
            task = asyncio.create_task(handler(http_scope("/held/stream/"), client.receive, client.send))
            await asyncio.wait_for(client.first.wait(), 10)
            assert await _collected(_Seen.request), "the request outlived its view"
            assert _Seen.body_files[-1].closed, "the body file outlived its request"
            _Seen.release.set()
            await asyncio.wait_for(task, 10)
    finally:
        request_finished.disconnect(dispatch_uid="test_stream_handling")
    start = client.sent[0]
    assert start["status"] == 200 and (b"X-Kept", b"yes") in start["headers"]
    assert client.body() == b"first\nlast\n"
    assert client.sent[-1] == {"type": "http.response.body"}
    assert finished, "response.close() did not send request_finished"


async def test_a_body_that_reads_the_request_still_has_it(handler: StreamingASGIHandler) -> None:
    client = Client()
    with URLCONF:
        await asyncio.wait_for(
            handler(http_scope("/echo/stream/", query=b"q=42"), client.receive, client.send), 10
        )
    assert client.body() == b"q=42\n"
    assert _Seen.body_files[-1].closed, "the body file was not closed when the response ended"


async def test_a_client_gone_before_the_body_ends_cancels_it(handler: StreamingASGIHandler) -> None:
    _Seen.release = asyncio.Event()
    client = Client()
    with URLCONF:
        task = asyncio.create_task(handler(http_scope("/held/stream/"), client.receive, client.send))
        await asyncio.wait_for(client.first.wait(), 10)
        client.gone.set()
        await asyncio.wait_for(task, 10)
    assert client.body() == b"first\n"
