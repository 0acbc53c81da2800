"""Whether this server can serve streams as set up: the event log's tables (a ``503`` naming
the fix until they exist), and a WARNING when each stream would hold an OS thread of its own."""

from __future__ import annotations

import asyncio
import logging
import re
import time

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async

from sse import runtime
from sse.conf import conf
from sse.storage import EventLog
from sse.storage.current import CurrentLog
from sse.streams.refusals import UNAVAILABLE_ERRORS, StreamRefused

__all__ = ["Readiness", "event_log_problem", "warn_if_thread_per_stream"]

logger = logging.getLogger("sse.hub")

_PROBLEM_LOG_INTERVAL = 60.0


class Readiness:
    """What this process found of its setup: ``runtime.get().part(Readiness)``."""

    def __init__(self) -> None:
        #: The event log found ready (its tables exist): asked once, not per stream.
        self.ready_log: EventLog | None = None
        self.problem_logged_at: float | None = None
        #: The look at the log under way, per loop.
        self.looking: dict[asyncio.AbstractEventLoop, asyncio.Task[str | None]] = {}
        #: The causes of a thread per stream already logged: one WARNING each.
        self.thread_warnings: set[str] = set()


async def event_log_problem() -> StreamRefused | None:
    """A 503 naming the fix while the event log cannot work (``manage.py migrate`` not run).

    Without it every stream would be a ``200`` whose body fails at its first query, which
    a browser retries forever and a server log mentions once. Asked until the answer is
    yes, so a server started before ``migrate`` serves streams once it ran. An ERROR line
    names the fix, at most once a minute.
    """
    rt = runtime.get()  # one look-up per stream open
    state, log = rt.part(Readiness), rt.part(CurrentLog).log
    if log is state.ready_log:
        return None
    # One look at a time per loop: the streams of a reconnect storm after a restart wait
    # for the first one's answer instead of each queueing a query of their own.
    loop = asyncio.get_running_loop()
    looking = state.looking.get(loop)
    if looking is None:
        looking = state.looking[loop] = loop.create_task(sync_to_async(log.setup_problem)())
        looking.add_done_callback(_looked)
    try:
        problem = await asyncio.shield(looking)
    except UNAVAILABLE_ERRORS:
        return None  # a database that cannot answer now: the stream says "come back" itself
    if problem is None:
        state.ready_log, state.problem_logged_at = log, None
        return None
    now = time.monotonic()
    if state.problem_logged_at is None or now - state.problem_logged_at >= _PROBLEM_LOG_INTERVAL:
        state.problem_logged_at = now
        logger.error("every stream answers 503 until this is fixed: %s", problem)
    return StreamRefused(503, f"streams are not set up on this server: {problem}")


def _looked(task: asyncio.Task[str | None]) -> None:
    runtime.get().part(Readiness).looking.pop(task.get_loop(), None)
    if not task.cancelled():
        task.exception()  # retrieved: the streams that waited for it may all be gone


def warn_if_thread_per_stream(path: str | None) -> None:
    """A WARNING, once per process, when this stream holds an OS thread of its own.

    Django's ``ASGIHandler`` gives each request a ``ThreadSensitiveContext`` of its own (a
    thread for as long as the request lasts); ``sse.server.asgi`` gives streams one shared context
    (``on_stream_thread()``). Under the test client and WSGI there is no such context at all.
    """
    if type(SyncToAsync.thread_sensitive_context.get(None)) is not ThreadSensitiveContext:
        return
    on_stream_path = path is not None and any(re.search(p, path) for p in conf.SSE_STREAM_PATHS)
    if on_stream_path:
        cause = (
            "it was served by Django's own ASGI handler: asgi.py calls "
            "django.core.asgi.get_asgi_application(). Use sse's: from sse.asgi import "
            "get_asgi_application; application = get_asgi_application()"
        )
    elif path is not None:
        cause = (
            f"its path {path!r} is outside SSE_STREAM_PATHS {list(conf.SSE_STREAM_PATHS)!r} "
            "(or asgi.py serves Django's own ASGI handler, not sse.asgi.get_asgi_application()). "
            "Add a pattern for it to SSE_STREAM_PATHS"
        )
    else:
        cause = (
            "asgi.py serves Django's own ASGI handler (django.core.asgi.get_asgi_application(); "
            "use sse.asgi.get_asgi_application()), or the stream's path is outside SSE_STREAM_PATHS"
        )
    key = cause.split(":")[0]
    warned = runtime.get().part(Readiness).thread_warnings
    if key in warned:
        return
    warned.add(key)
    logger.warning(
        "each open stream holds an OS thread of its own for as long as it lasts "
        "(1,000 streams, 1,000 idle threads): %s.",
        cause,
    )
