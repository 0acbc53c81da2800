"""Two bare stream views beside the project's own URLs.

``/ladder/bare/stream/`` answers ``retry:`` and holds the connection, as the floor does,
through Django's request path; ``/ladder/user/stream/`` first reads the signed-in user
(the session and the user row), as any authenticated stream must.
"""

import asyncio
from collections.abc import AsyncIterator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import include, path


async def _held() -> AsyncIterator[bytes]:
    yield b"retry: 2000\n\n"
    await asyncio.Event().wait()  # until the client goes: the handler cancels this


def _stream() -> StreamingHttpResponse:
    response = StreamingHttpResponse(_held(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    return response


async def bare(request: HttpRequest) -> StreamingHttpResponse:
    return _stream()


async def user(request: HttpRequest) -> HttpResponse:
    if not (await request.auser()).is_authenticated:
        return HttpResponse("sign in", status=401)
    return _stream()


urlpatterns = [
    path("ladder/bare/stream/", bare),
    path("ladder/user/stream/", user),
    path("", include("project.urls")),
]
