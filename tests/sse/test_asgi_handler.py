"""sse.server.asgi.StreamingASGIHandler in process: which thread a request's sync work runs on.

The ASGI application is driven directly (scope, receive, send) with the
tests.sse_app settings; this module is also the URLconf of its requests. Each
view waits at a barrier until every request of the test has arrived, so the
requests are in flight together, and reports the threads its sync work
(``sync_to_async``, thread-sensitive as Django's own) and Django's
``request_started`` receivers ran on.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from django.core.signals import request_started
from django.http import HttpRequest, JsonResponse
from django.test import override_settings
from django.urls import path

from sse.server.asgi import DEFAULT_STREAM_PATHS, StreamingASGIHandler
from tests.sse.asgi_scope import http_scope

STREAM_THREAD = "sse-streams"
REQUEST_THREAD = "sse-requests-"


class _Meeting:
    barrier: asyncio.Barrier | None = None
    sync_barrier: threading.Barrier | None = None


def _thread_name() -> str:
    return threading.current_thread().name


async def probe(request: HttpRequest) -> JsonResponse:
    if _Meeting.barrier is not None:
        await asyncio.wait_for(_Meeting.barrier.wait(), 10)
    first = await sync_to_async(_thread_name)()
    await asyncio.sleep(0.01)
    second = await sync_to_async(_thread_name)()
    return JsonResponse({"threads": [first, second]})


def sync_probe(request: HttpRequest) -> JsonResponse:
    """A sync view: it reports the thread it runs on, once every request of the test is in it."""
    if _Meeting.sync_barrier is not None:
        _Meeting.sync_barrier.wait(timeout=10)
    return JsonResponse({"threads": [_thread_name()]})


urlpatterns = [
    path("events/stream/", probe),
    path("events/sync/stream/", sync_probe),
    path("live/feed/", probe),
    path("page/", probe),
]


@pytest.fixture
def started_on() -> Iterator[dict[str, str]]:
    """The thread Django's request_started receivers ran on, by request path."""
    seen: dict[str, str] = {}

    def receiver(sender: Any, scope: Any = None, **kwargs: Any) -> None:
        if scope is not None:
            seen[scope["path"]] = _thread_name()

    request_started.connect(receiver, dispatch_uid="test_asgi_handler")
    try:
        yield seen
    finally:
        request_started.disconnect(dispatch_uid="test_asgi_handler")


@pytest.fixture
def handlers() -> Iterator[list[StreamingASGIHandler]]:
    """The handlers a test makes; their threads are stopped afterwards."""
    made: list[StreamingASGIHandler] = []
    yield made
    for handler in made:
        for context in [handler._stream_context, *handler._request_contexts]:
            executor = SyncToAsync.context_to_thread_executor.pop(context, None)
            if executor is not None:
                executor.shutdown()


def make_handler(handlers: list[StreamingASGIHandler], **kwargs: Any) -> StreamingASGIHandler:
    handler = StreamingASGIHandler(**kwargs)
    handlers.append(handler)
    return handler


async def request(handler: StreamingASGIHandler, path_: str) -> list[str]:
    """GET ``path_`` through ``handler``: the threads the view's sync calls ran on."""
    sent: list[dict[str, Any]] = []
    requested = False
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await never.wait()  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(handler(http_scope(path_), receive, send), 10)
    start = next(message for message in sent if message["type"] == "http.response.start")
    assert start["status"] == 200, f"GET {path_}: {start['status']}"
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return json.loads(body)["threads"]


async def together(handler: StreamingASGIHandler, *paths: str) -> list[list[str]]:
    """The requests at once: each view waits until all of them have arrived."""
    _Meeting.barrier = asyncio.Barrier(len(paths))
    try:
        return list(await asyncio.gather(*(request(handler, p) for p in paths)))
    finally:
        _Meeting.barrier = None


URLCONF = override_settings(ROOT_URLCONF=__name__)


async def test_concurrent_stream_requests_share_the_one_sse_streams_thread(
    handlers: list[StreamingASGIHandler], started_on: dict[str, str]
) -> None:
    with URLCONF:
        handler = make_handler(handlers)
        first, second = await together(handler, "/events/stream/", "/events/stream/")
    threads = {*first, *second, started_on["/events/stream/"]}
    assert len(threads) == 1, f"stream requests ran their sync work on {threads}"
    (thread,) = threads
    assert thread.startswith(STREAM_THREAD)
    # The same thread for a later one: the context outlives each request.
    with URLCONF:
        assert set(await request(handler, "/events/stream/")) == threads


async def test_other_paths_run_on_the_long_lived_request_threads(
    handlers: list[StreamingASGIHandler], started_on: dict[str, str]
) -> None:
    with URLCONF:
        handler = make_handler(handlers, request_threads=2)
        first, second = await together(handler, "/page/", "/page/")
        # One at a time afterwards: each goes to a thread already made (their DB connections stay).
        later = {name for _ in range(4) for name in await request(handler, "/page/")}
    # Each request's sync work on one thread; two requests in flight on the two threads.
    assert len(set(first)) == 1 and len(set(second)) == 1, (first, second)
    assert first[0] != second[0], f"two concurrent requests shared thread {first[0]} with another free"
    assert {first[0], second[0]} >= later, f"later requests ran on new threads: {later}"
    assert all(name.startswith(REQUEST_THREAD) for name in [*first, *second, started_on["/page/"]])


async def test_request_threads_zero_keeps_djangos_thread_per_request(
    handlers: list[StreamingASGIHandler], started_on: dict[str, str]
) -> None:
    with URLCONF, override_settings(SSE_REQUEST_THREADS=0):
        handler = make_handler(handlers)
        first, second = await together(handler, "/page/", "/page/")
    # Django's handling: one thread-sensitive context per request, its sync work on its own thread.
    assert len(set(first)) == 1 and len(set(second)) == 1, (first, second)
    assert first[0] != second[0], f"two concurrent requests shared thread {first[0]}"
    names = [*first, *second, *started_on.values()]
    assert not any(name.startswith((STREAM_THREAD, REQUEST_THREAD)) for name in names), names


async def test_streams_and_pages_at_once(handlers: list[StreamingASGIHandler]) -> None:
    with URLCONF:
        handler = make_handler(handlers)
        stream, page = await together(handler, "/events/stream/", "/page/")
    assert all(name.startswith(STREAM_THREAD) for name in stream), stream
    assert not any(name.startswith(STREAM_THREAD) for name in page), page


async def test_sse_stream_paths_setting_is_honoured(
    handlers: list[StreamingASGIHandler], started_on: dict[str, str]
) -> None:
    with URLCONF, override_settings(SSE_STREAM_PATHS=[r"^/live/"]):
        handler = make_handler(handlers)
        assert handler.is_stream(http_scope("/live/feed/"))
        assert not handler.is_stream(http_scope("/events/stream/"))  # the default no longer applies
        live, events = await together(handler, "/live/feed/", "/events/stream/")
    assert all(name.startswith(STREAM_THREAD) for name in [*live, started_on["/live/feed/"]]), live
    assert not any(name.startswith(STREAM_THREAD) for name in [*events, started_on["/events/stream/"]]), (
        events
    )


def test_stream_paths_default_argument_and_none(handlers: list[StreamingASGIHandler]) -> None:
    assert DEFAULT_STREAM_PATHS == (r"/stream/$",)
    default = make_handler(handlers)  # tests.sse_app sets no SSE_STREAM_PATHS
    assert default.is_stream(http_scope("/sse/stream/"))
    assert not default.is_stream(http_scope("/sse/stream/more/"))
    assert not default.is_stream({"type": "websocket", "path": "/sse/stream/"})
    argument = make_handler(handlers, stream_paths=[r"^/a/", r"^/b/"])
    assert argument.is_stream(http_scope("/a/x/")) and argument.is_stream(http_scope("/b/"))
    assert not argument.is_stream(http_scope("/sse/stream/"))
    with override_settings(SSE_STREAM_PATHS=[]):
        nothing = make_handler(handlers)
    assert not nothing.is_stream(http_scope("/sse/stream/"))


async def test_a_sync_view_under_a_stream_path_gets_a_thread_of_its_own(
    handlers: list[StreamingASGIHandler],
) -> None:
    # Two at once, each waiting in the view until both are in: on the one sse-streams thread
    # the second could never come in (and every stream's sync work would wait behind them).
    with URLCONF:
        handler = make_handler(handlers)
        _Meeting.sync_barrier = threading.Barrier(2)
        try:
            first, second = await asyncio.gather(
                request(handler, "/events/sync/stream/"), request(handler, "/events/sync/stream/")
            )
        finally:
            _Meeting.sync_barrier = None
        stream = await request(handler, "/events/stream/")
    assert first != second, f"two sync views under a stream path shared thread {first}"
    assert not any(name.startswith(STREAM_THREAD) for name in [*first, *second]), (first, second)
    assert all(name.startswith(STREAM_THREAD) for name in stream), stream  # async views still share it


async def test_by_default_other_requests_are_served_as_djangos_own_handler_serves_them(
    handlers: list[StreamingASGIHandler], started_on: dict[str, str]
) -> None:
    # Sixteen requests in flight together, each on a thread of its own (no pool to wait for).
    with URLCONF:
        handler = make_handler(handlers)
        answers = await together(handler, *["/page/"] * 16)
    threads = {name for threads in answers for name in threads}
    assert len(threads) == 16, f"16 concurrent requests ran on {len(threads)} threads"
    assert not any(name.startswith((STREAM_THREAD, REQUEST_THREAD)) for name in threads), threads
