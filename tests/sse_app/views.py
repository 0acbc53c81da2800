"""Sign-in for the test servers (the sse app ships no login page of its own), a burst, and
streams of the app's own (not the hub's) for the sse.testing tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.contrib.auth import authenticate, login
from django.db import transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

import sse
from sse.storage import get_event_log
from sse.streams.access import last_event_id
from sse.wire.encoding import Event


@csrf_exempt
@require_POST
def sign_in(request: HttpRequest) -> HttpResponse:
    user = authenticate(
        request, username=request.POST.get("username", ""), password=request.POST.get("password", "")
    )
    if user is None:
        return HttpResponse("bad credentials\n", status=403, content_type="text/plain")
    login(request, user)
    get_token(request)  # sets the csrftoken cookie the API calls need
    return HttpResponse(str(user.pk), content_type="text/plain")


@csrf_exempt
@require_POST
def burst(request: HttpRequest) -> HttpResponse:
    """``n`` events on ``channel`` published by the server process itself, in one transaction."""
    if not request.user.is_staff:
        return HttpResponse("staff only\n", status=403, content_type="text/plain")
    channel, count = request.POST["channel"], int(request.POST["n"])
    with transaction.atomic():
        for number in range(count):
            sse.publish(channel, {"n": number}, event="tick")
    return HttpResponse(str(count), content_type="text/plain")


async def countdown(request: HttpRequest) -> HttpResponse:
    """Events counting down from ``?from=`` (3) to 1, then the end (``?then=hang``: silence).

    A stream a view makes itself; ``?opening=0`` leaves out the opening ``retry:`` block.
    """
    start = int(request.GET.get("from", "3"))
    hang = request.GET.get("then") == "hang"

    async def events() -> AsyncIterator[Event]:
        for n in range(start, 0, -1):
            yield Event(data=json.dumps({"n": n}), event="count", id=f"count:{n}")
        if hang:
            await asyncio.Event().wait()  # until the client goes

    return sse.EventStreamResponse(events(), heartbeat=0, opening=request.GET.get("opening") != "0")


def whole_stream(request: HttpRequest) -> HttpResponse:
    """An event stream sent whole, not streamed."""
    return HttpResponse(b"retry: 5000\n\nid: w:1\ndata: whole\n\n", content_type="text/event-stream")


def sync_stream(request: HttpRequest) -> HttpResponse:
    """A synchronous iterator: Django's ASGI handler buffers it whole (it cannot stream)."""

    def lines() -> Iterator[bytes]:
        yield b"data: never streamed\n\n"

    return StreamingHttpResponse(lines(), content_type="text/event-stream")


async def state_first(request: HttpRequest) -> HttpResponse:
    """A hub stream that sends a ``state`` event first and ends after ``complete``.

    ``?before=a,b``: events published after the subscription and before the state's
    head is read (the window a state read races with).
    """
    channel = request.GET["channel"]
    before = [name for name in request.GET.get("before", "").split(",") if name]

    async def first() -> sse.FirstEvents:
        for number, name in enumerate(before, 1):
            await sse.apublish(channel, {"before": number}, event=name)
        # The head with its event's check: the state's id is one the log vouches for.
        head = (await sync_to_async(get_event_log().positions)([channel]))[channel]
        return sse.FirstEvents(
            positions=[head], events=[Event(data=json.dumps({"head": head.seq}), event="state")]
        )

    return await sse.stream_response(
        [channel], user_key=None, resume_from=last_event_id(request), first=first, end_after=["complete"]
    )


async def slow(request: HttpRequest) -> HttpResponse:
    """An ordinary response that takes ``?seconds=`` to answer (in flight when a shutdown begins)."""
    await asyncio.sleep(float(request.GET.get("seconds", "1")))
    return HttpResponse(b"done\n", content_type="text/plain")
