"""The design that skips Django's request path for streams, as a ceiling to measure.

An ASGI app that, for ``/sse/stream/``, builds the ``ASGIRequest`` itself and calls sse's
stream view directly, with no ``request_started`` signal, no URL resolution and no
middleware, on the thread all streams share (so look-ups are batched as in the project);
everything else goes to sse's handler. It keeps none of the site's middleware in force,
so it is not something to deploy: it shows how fast sse's own stream opening is when
nothing of Django's handler runs. Token-authenticated only (no session middleware runs).
"""

import asyncio
import io
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.ladder.settings")

from asgiref.sync import SyncToAsync
from django.core.handlers.asgi import ASGIRequest

from sse.asgi import get_asgi_application

handler = get_asgi_application()  # sets Django up

from sse.streams.views import stream  # noqa: E402


async def application(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http" or scope["path"] != "/sse/stream/":
        await handler(scope, receive, send)
        return
    await receive()  # the empty body of a GET
    token = SyncToAsync.thread_sensitive_context.set(handler._stream_context)
    try:
        response = await stream(ASGIRequest(scope, io.BytesIO()))
        headers = [(k.encode("latin1"), v.encode("latin1")) for k, v in response.items()]
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        if not response.streaming:
            await send({"type": "http.response.body", "body": response.content})
            return

        async def body() -> None:
            async for chunk in response:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})

        streaming = asyncio.create_task(body())
        while (await receive())["type"] != "http.disconnect":
            pass
        streaming.cancel()
        await asyncio.gather(streaming, return_exceptions=True)
        response.close()
    finally:
        SyncToAsync.thread_sensitive_context.reset(token)
