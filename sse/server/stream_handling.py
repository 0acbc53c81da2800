"""Django's ``ASGIHandler.handle`` for stream requests, holding less while the body streams.

A stream's response lives for hours; what Django's ``handle`` keeps in its frames for
that long is paid per open stream. This is the same sequence (body, ``request_started``,
the request, the view under a disconnect listener, the response, ``response.close()``),
with three differences that change nothing a view, a middleware or a client sees:

- the exception that ends the task group is one class, not a class defined per request
  (about 1.7 KB each on Django 6.x);
- once the view has returned, the handler drops its references to the request and to its
  body file, and the response's closer no longer holds the request (``_unhook_request``):
  nothing of the response needs them (a body generator that closes over the request keeps
  it alive by itself), and a stream carries what its access re-checks need
  (``sse.auth.identity.StreamIdentity``: the user's key and the session's);
- the response's header list is built for the start message and not kept in a frame
  for the stream's life.

The body file is closed when the response ends, as Django closes it, or earlier, when the
request is collected: nothing can read it then.
"""

# Upstream internals: Django's ASGIHandler.handle and send_response, copied with the changes
# above (tests/sse/test_upstream.py fingerprints both, so a Django release that changes them
# fails there, naming this module), and the methods they call: read_body, create_request,
# listen_for_disconnect, run_get_response, chunk_bytes.

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Mapping
from contextlib import aclosing
from functools import partial
from itertools import chain
from typing import Any

from asgiref.sync import sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, ASGIRequest, get_script_prefix
from django.http.response import HttpResponseBase
from django.urls import set_script_prefix

__all__ = ["handle_stream"]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


class _RequestProcessed(Exception):
    """The response went out: ends the task group that listens for a disconnect."""


async def handle_stream(handler: ASGIHandler, scope: Scope, receive: Receive, send: Send) -> None:
    """``handler.handle(scope, receive, send)``, keeping only what the streaming body needs."""
    try:
        body_file = await handler.read_body(receive)
    except RequestAborted:
        return
    set_script_prefix(get_script_prefix(scope))
    await signals.request_started.asend(sender=handler.__class__, scope=scope)
    request, error_response = handler.create_request(scope, body_file)
    if request is None:
        body_file.close()
        await _answer(handler, error_response, send)
        return
    del body_file  # closed with the request (see _unhook_request)
    response = None
    try:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(handler.listen_for_disconnect(receive))
                response = await handler.run_get_response(request)
                _unhook_request(response, request)
                del request  # the body streams without it
                await _send_response(handler, response, send)
                raise _RequestProcessed
        except* (_RequestProcessed, RequestAborted):
            pass
    except BaseExceptionGroup as exception_group:
        if len(exception_group.exceptions) == 1:
            raise exception_group.exceptions[0]  # noqa: B904 (as Django raises it)
        raise
    if response is None:
        await signals.request_finished.asend(sender=handler.__class__)
    else:
        await sync_to_async(response.close)()


async def _answer(handler: ASGIHandler, response: HttpResponseBase | None, send: Send) -> None:
    """A request Django could not make (a bad encoding, a body too big): its error response."""
    assert response is not None
    await handler.send_response(response, send)
    await sync_to_async(response.close)()


def _unhook_request(response: HttpResponseBase, request: Any) -> None:
    """Let ``response`` close what ``request.close()`` would, without holding the request.

    Django's handler appends ``request.close`` to the response's closers, which keeps the
    whole request (its ``META``, session, user, messages) for as long as the response lives.
    ``ASGIRequest.close`` closes the request's uploaded files and its body file: the closer
    that replaces it holds the files, and closes the body file then if the request is still
    alive (a body generator that reads it), or as soon as the request is collected. A request
    class with a ``close`` of its own keeps Django's closer.
    """
    if type(request).close is not ASGIRequest.close:
        return
    closers = response._resource_closers  # type: ignore[attr-defined]
    close_body, files = request._stream.close, request.__dict__.get("_files")
    for index, closer in enumerate(closers):
        if getattr(closer, "__self__", None) is request:
            body_closed = weakref.finalize(request, close_body)
            body_closed.atexit = False
            closers[index] = partial(_close_request_parts, files, body_closed)


def _close_request_parts(files: Any, body_closed: weakref.finalize[Any, Any]) -> None:
    if files is not None:
        for upload in chain.from_iterable(uploads for _, uploads in files.lists()):
            upload.close()
    body_closed()  # once: nothing if the request was collected (its body file closed then)


def _start_message(response: HttpResponseBase) -> dict[str, Any]:
    headers = []
    for header, value in response.items():
        name = header.encode("ascii") if isinstance(header, str) else header
        data = value.encode("latin1") if isinstance(value, str) else value
        headers.append((bytes(name), bytes(data)))
    for cookie in response.cookies.values():
        headers.append((b"Set-Cookie", cookie.OutputString().encode("ascii")))
    return {"type": "http.response.start", "status": response.status_code, "headers": headers}


async def _send_response(handler: ASGIHandler, response: HttpResponseBase, send: Send) -> None:
    if not response.streaming:
        await handler.send_response(response, send)
        return
    await send(_start_message(response))
    streaming: Any = response  # a StreamingHttpResponse: async-iterable
    async with aclosing(aiter(streaming)) as content:
        async for part in content:
            for chunk, _ in handler.chunk_bytes(part):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body"})
