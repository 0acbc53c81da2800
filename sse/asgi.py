"""An ASGI handler that serves event streams without holding an OS thread each.

Django's ``ASGIHandler`` wraps every request in its own ``ThreadSensitiveContext``:
the first thread-sensitive sync call of the request (the ``request_started``
receivers, at the latest) starts a worker thread that lives until the response
ends. For a stream that is forever, so 5,000 open streams are 5,000 idle threads
and their stacks.

``StreamingASGIHandler`` serves requests whose path looks like a stream
(``SSE_STREAM_PATHS``, default: any path ending in ``/stream/``) inside one
long-lived thread-sensitive context shared by all of them, so their short sync
work (signal receivers, session and ORM look-ups through ``sync_to_async``)
runs one call at a time on a single ``sse-streams`` thread. Every other request
keeps Django's handling unchanged. Only map async streaming views to these
paths: a slow sync view there would hold up every stream's sync work.

Use it in ``asgi.py``::

    from sse.asgi import get_asgi_application

    application = get_asgi_application()
"""

# Upstream internals used here, each with a test in tests/sse/test_upstream.py (pyproject.toml
# caps asgiref below its first untested release): asgiref's SyncToAsync.context_to_thread_executor
# and SyncToAsync.thread_sensitive_context, a ThreadSensitiveContext that is never entered, and
# Django's ASGIHandler.handle (what ASGIHandler.__call__ runs inside a per-request context).

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import SyncToAsync, ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler

from sse.conf import DEFAULT_STREAM_PATHS, conf

__all__ = ["DEFAULT_STREAM_PATHS", "StreamingASGIHandler", "get_asgi_application"]

# Typed as Django's ASGIHandler types them, so __call__ overrides it cleanly.
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


class StreamingASGIHandler(ASGIHandler):
    """Django's ASGI handler, minus the per-request thread for stream paths."""

    def __init__(self, stream_paths: Iterable[str] | None = None) -> None:
        super().__init__()
        if stream_paths is None:
            stream_paths = conf.SSE_STREAM_PATHS
        self._stream_path = re.compile("|".join(f"(?:{p})" for p in stream_paths) or r"(?!)")
        # Never exited, so tasks a stream starts (hub timers, layer readers) can
        # still make thread-sensitive calls after that stream ends.
        self._stream_context = ThreadSensitiveContext()
        SyncToAsync.context_to_thread_executor[self._stream_context] = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="sse-streams"
        )

    def is_stream(self, scope: Scope) -> bool:
        return scope["type"] == "http" and self._stream_path.search(scope.get("path", "")) is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.is_stream(scope):
            await super().__call__(scope, receive, send)
            return
        # Each ASGI request runs in its own task, so this binding stays with it.
        token = SyncToAsync.thread_sensitive_context.set(self._stream_context)
        try:
            await self.handle(scope, receive, send)
        finally:
            SyncToAsync.thread_sensitive_context.reset(token)


def get_asgi_application(stream_paths: Iterable[str] | None = None) -> StreamingASGIHandler:
    """Like ``django.core.asgi.get_asgi_application()``, returning a :class:`StreamingASGIHandler`."""
    django.setup(set_prefix=False)
    return StreamingASGIHandler(stream_paths)
