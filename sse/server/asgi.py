"""An ASGI handler that serves event streams without holding an OS thread each.

Django's ``ASGIHandler`` wraps every request in its own ``ThreadSensitiveContext``:
the first thread-sensitive sync call of the request (the ``request_started``
receivers, at the latest) starts a worker thread that lives until the response
ends. For a stream that is forever, so 5,000 open streams are 5,000 idle threads
and their stacks.

``StreamingASGIHandler`` serves requests whose path looks like a stream
(``SSE_STREAM_PATHS``, default: any path ending in ``/stream/``) and whose view is
async inside one long-lived thread-sensitive context shared by all of them, so
their short sync work (signal receivers, session and ORM look-ups through
``sync_to_async``) runs one call at a time on a single ``sse-streams`` thread. A
sync view under a stream path is served as Django serves it, on a thread of its
own: it cannot hold up the streams. Every other request is served as Django's own
handler serves it (a thread per request), unless ``SSE_REQUEST_THREADS`` is set
above 0: those requests then run on that many long-lived worker threads, so
thread-local database connections live as long as ``CONN_MAX_AGE`` says (each
request still runs all its sync code on one thread, and goes to the thread with
the fewest requests in flight; a slow view then delays the others on its thread).
Every request meets the site's middlewares as Django's handler runs them, in fewer
thread hops (``sse.server.middleware_groups``).

A stream whose client reads nothing is cut off, under any server that makes
``send()`` wait while the connection's buffer is full (uvicorn, gunicorn's uvicorn
workers, hypercorn, granian, ``python -m sse.daphne``): a ``send()`` of a stream
that has not returned after ``SSE_SEND_TIMEOUT_SECONDS`` is cancelled, the
response ends (its hub subscription released, one INFO line on ``sse.server.asgi``) and
the server closes the connection; the client resumes from its last id when it
reads again. One timer per process watches the sends in flight, not one per send
(``sse.server.send_timeout``).

A request body that does not arrive within ``SSE_BODY_TIMEOUT_SECONDS`` (more for a
large one, ``SSE_BODY_MIN_BYTES_PER_SECOND``) is answered ``408`` and its connection
closed, whatever path the request takes (``sse.server.body_timeout``).

Use it in ``asgi.py``::

    from sse.server.asgi import get_asgi_application

    application = get_asgi_application()
"""

# Upstream internals used here, each with a test in tests/sse/test_upstream.py (pyproject.toml
# caps asgiref below its first untested release): asgiref's SyncToAsync.context_to_thread_executor
# and SyncToAsync.thread_sensitive_context, a ThreadSensitiveContext that is never entered, and
# Django's ASGIHandler.handle (what ASGIHandler.__call__ runs inside a per-request context).

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, iscoroutinefunction
from django.core.handlers.asgi import ASGIHandler
from django.urls import Resolver404, get_resolver

from sse.conf import DEFAULT_STREAM_PATHS, conf
from sse.server.body_timeout import bounded_receive
from sse.server.middleware_groups import GroupedMiddlewareHandler
from sse.server.send_timeout import SendWatch, TimedSend
from sse.server.stream_handling import handle_stream

__all__ = ["DEFAULT_STREAM_PATHS", "StreamingASGIHandler", "get_asgi_application", "on_stream_thread"]

logger = logging.getLogger("sse.asgi")

# Typed as Django's ASGIHandler types them, so __call__ overrides it cleanly.
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


class _SharedContext(ThreadSensitiveContext):
    """A thread-sensitive context that is never exited, with one thread of its own.

    Never exited, so tasks a request starts (hub timers, layer readers) can still
    make thread-sensitive calls after that request ends.
    """

    def __init__(self, thread_name: str) -> None:
        super().__init__()
        self.in_flight = 0
        SyncToAsync.context_to_thread_executor[self] = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=thread_name
        )


class _StreamContext(_SharedContext):
    """The context all stream requests share (its thread: ``sse-streams``)."""


def on_stream_thread() -> bool:
    """Whether sync calls made from here run on the thread all streams share.

    That thread outlives every stream, so the database connection it holds is
    not one stream's to give back (``CONN_MAX_AGE`` governs it, as for any thread).
    """
    return isinstance(SyncToAsync.thread_sensitive_context.get(None), _StreamContext)


# Set in a request's task once its stream was cut: the server may then say the response
# did not complete (uvicorn logs an error), which is what the cut meant.
_cut_off: contextvars.ContextVar[bool] = contextvars.ContextVar("sse_cut_off", default=False)

# uvicorn's words (uvicorn.protocols.http.*_impl.RequestResponseCycle.run_asgi) for an
# application that returns mid-body; hypercorn, granian and Daphne close such a
# connection without a word.
_UVICORN_INCOMPLETE = "ASGI callable returned without completing response."


class _QuietAfterCut(logging.Filter):
    """Drops the server's "returned without completing response" for a stream cut off here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_cut_off.get() and record.msg == _UVICORN_INCOMPLETE)


def _quiet_server_logs() -> None:
    log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietAfterCut) for f in log.filters):
        log.addFilter(_QuietAfterCut())


class StreamingASGIHandler(GroupedMiddlewareHandler, ASGIHandler):
    """Django's ASGI handler, minus the thread per request."""

    def __init__(self, stream_paths: Iterable[str] | None = None, request_threads: int | None = None) -> None:
        super().__init__()
        if stream_paths is None:
            stream_paths = conf.SSE_STREAM_PATHS
        if request_threads is None:
            request_threads = conf.SSE_REQUEST_THREADS
        self._stream_path = re.compile("|".join(f"(?:{p})" for p in stream_paths) or r"(?!)")
        self._stream_context = _StreamContext("sse-streams")
        self._request_contexts = [_SharedContext(f"sse-requests-{n}") for n in range(request_threads)]
        self._async_views: dict[str, bool] = {}  # path -> whether the root URLconf maps it to an async view
        self._send_watch: SendWatch | None = None
        _quiet_server_logs()

    def is_stream(self, scope: Scope) -> bool:
        return scope["type"] == "http" and self._stream_path.search(scope.get("path", "")) is not None

    def _is_async_view(self, path: str) -> bool:
        """Whether the root URLconf maps ``path`` to an async view (remembered per path)."""
        known = self._async_views.get(path)
        if known is None:
            try:
                known = iscoroutinefunction(get_resolver().resolve(path).func)
            except Resolver404:
                known = False
            if len(self._async_views) >= 4096:
                self._async_views.clear()
            self._async_views[path] = known
        return known

    def _context_for(self, scope: Scope) -> _SharedContext | None:
        if self.is_stream(scope):
            if self._is_async_view(scope.get("path", "")):
                return self._stream_context
            return None  # a sync view: a thread of its own, as Django serves it
        if not self._request_contexts or scope["type"] != "http":
            return None  # Django's own: a thread for this request alone
        return min(self._request_contexts, key=lambda c: c.in_flight)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # Django's own refuses lifespan; here startup installs the SIGTERM/SIGINT handler
            # and shutdown ends every stream cleanly (sse.server.shutdown).
            from sse.server.shutdown import lifespan

            await lifespan(receive, send)
            return
        receive = bounded_receive(scope, receive, send)  # a 408 for a body too slow to come
        context = self._context_for(scope)
        if context is None:
            await super().__call__(scope, receive, send)
            return
        timed = None
        if context is self._stream_context:
            timeout = conf.SSE_SEND_TIMEOUT_SECONDS
            if timeout > 0:
                send = timed = TimedSend(send, timeout, self._watch())
        # Each ASGI request runs in its own task, so this binding stays with it.
        token = SyncToAsync.thread_sensitive_context.set(context)
        context.in_flight += 1
        try:
            if context is self._stream_context:
                await handle_stream(self, scope, receive, send)  # holds less while streaming
            else:
                await self.handle(scope, receive, send)
        finally:
            context.in_flight -= 1
            SyncToAsync.thread_sensitive_context.reset(token)
        if timed is not None and timed.cut:
            _cut_off.set(True)  # for the rest of this request's task: see _QuietAfterCut
            client = scope.get("client")
            logger.info(
                "cut off a stream (%s %s, client %s) that read nothing for %gs; "
                "it resumes from its last id when it reads again",
                scope.get("method", "GET"),
                scope.get("path", ""),
                f"{client[0]}:{client[1]}" if client else "unknown",
                timed.timeout,
            )

    def _watch(self) -> SendWatch:
        loop = asyncio.get_running_loop()
        watch = self._send_watch
        if watch is None or watch.loop is not loop:
            watch = self._send_watch = SendWatch(loop)
        return watch


def get_asgi_application(
    stream_paths: Iterable[str] | None = None, request_threads: int | None = None
) -> StreamingASGIHandler:
    """Like ``django.core.asgi.get_asgi_application()``, returning a :class:`StreamingASGIHandler`."""
    django.setup(set_prefix=False)
    # Under any server, not only those that run the system checks: a wrong SSE_* value
    # stops the start with its check id, never a stream or a timer later.
    conf.validate()
    return StreamingASGIHandler(stream_paths, request_threads)
