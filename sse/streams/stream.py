"""Open a hub-backed stream: subscribe, resume or start afresh, then live events."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.db import connections
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from sse.auth.identity import StreamIdentity, changed_since, recall, recall_epoch
from sse.auth.revocation import check_now
from sse.auth.tokens import auth_digest
from sse.channels.registry import validate_channel_name
from sse.conf import conf
from sse.hub.channel_hub import ChannelHub, OverCapacity
from sse.hub.subscriber import Subscriber
from sse.server.asgi import on_stream_thread
from sse.signals import stream_closed, stream_opened
from sse.storage import EventLog, get_event_log
from sse.streams.access import (
    UNAVAILABLE_ERRORS,
    StreamRefused,
    authenticate_stream,
    authorize,
    last_event_id,
    requested_rate,
)
from sse.streams.response import EventStreamResponse
from sse.streams.resume import plan_resume, replay
from sse.wire.cursor import LogPosition
from sse.wire.encoding import Event, encode_event, encode_id, encode_opening, encode_reset, spread_retry_ms

__all__ = ["FirstEvents", "open_stream", "stream_response"]

logger = logging.getLogger("sse.hub")


async def open_stream(request: HttpRequest, channels: Sequence[str], *, user: Any = None) -> HttpResponseBase:
    """Authenticate, authorize and stream ``channels``; errors become 4xx answers."""
    # Access notices (sse.access_changed) from here on re-check the stream once subscribed:
    # a change that commits after its rules read the database is not missed.
    epoch = recall_epoch()
    try:
        names = sorted(set(channels))
        for name in names:
            validate_channel_name(name)
        if user is None:
            user = await authenticate_stream(request, names)
        await authorize(user, names)
        resume_from = last_event_id(request)
        max_rate = requested_rate(request)
    except StreamRefused as refused:
        return refused.response()
    user_key = str(user.pk)
    # The session (or token) the request authenticated with; a user the app found by
    # itself is still bound to its password and its is_active.
    identity = recall(user_key) or StreamIdentity(user_key, None, auth_digest(user))
    return await _response(
        names,
        user_key,
        resume_from,
        None,
        (),
        identity,
        check_rules=True,
        max_rate=max_rate,
        path=request.path,
        epoch=epoch,
    )


@dataclass(frozen=True, slots=True)
class FirstEvents:
    """What a stream sends first in place of "from now on": events that stand for the state
    of its channels up to ``positions`` (one log seq per channel, read *after* the state).

    Live events at or below ``positions`` are dropped, so an event published between the
    subscription and the state read is neither lost nor sent twice; but an event named in
    the stream's ``end_after`` always goes out and ends it.
    """

    #: One per channel: a ``LogPosition`` (``EventLog.positions()`` reads them: the seq
    #: with its event's check, which the stream's ids carry), or a bare seq (no check: a
    #: client resuming from an id at that seq gets ``reset``, as the log cannot vouch for it).
    positions: Sequence[LogPosition | int]
    events: Sequence[Event]


FirstEventsHook = Callable[[], Awaitable[FirstEvents]]


async def stream_response(
    channels: Sequence[str],
    *,
    user_key: str | None,
    resume_from: str | None = None,
    first: FirstEventsHook | None = None,
    end_after: Sequence[str] = (),
    max_rate: float | None = None,
    check_rules: bool = False,
) -> HttpResponseBase:
    """A stream of already-authorized ``channels`` (sorted, distinct): an
    :class:`EventStreamResponse`, or a ``503`` naming the fix while the event log cannot
    work (its tables missing: ``manage.py migrate`` was not run).

    ``first``: awaited once subscribed, when the stream starts afresh (no id to
    resume from, or a ``reset``); its events go out before any live one.
    ``end_after``: event names after which the stream ends (a job's final event).
    ``max_rate``: at most this many events per second from the throttled channels
    among ``channels`` (``sse.streams.access.requested_rate`` reads the client's ``?max_rate=``).
    ``check_rules``: the channels' registered rules (``@sse.channel``) admit this user, and
    are re-run while the stream is open, as for ``open_stream``: every
    ``SSE_ACCESS_RECHECK_SECONDS`` and at once on ``sse.access_changed``; the stream ends
    when one says no. Without it only the user's session and password are re-checked.

    The hub subscription is made when the body starts, not here. Django closes
    only the responses it got as far as sending: a client that goes away while
    the middleware still runs (a page navigated away at once) must leave no
    subscription behind, nor a presence, nor a place in the per-user cap.
    """
    # Whose session this stream stands on, when sse.streams.access authenticated this request.
    identity = recall(user_key)
    return await _response(
        channels,
        user_key,
        resume_from,
        first,
        end_after,
        identity,
        check_rules=check_rules,
        max_rate=max_rate,
        epoch=recall_epoch(),
    )


async def _response(
    channels: Sequence[str],
    user_key: str | None,
    resume_from: str | None,
    first: FirstEventsHook | None,
    end_after: Sequence[str],
    identity: StreamIdentity | None,
    *,
    check_rules: bool,
    max_rate: float | None,
    path: str | None = None,
    epoch: int = 0,
) -> HttpResponseBase:
    problem = await _event_log_problem()
    if problem is not None:
        return problem.response()
    # Streams are long: a thread of this request's own gives its DB connection back
    # first. The thread all streams share keeps its one (CONN_MAX_AGE decides).
    if not on_stream_thread():
        _warn_if_thread_per_stream(path)
        await sync_to_async(connections.close_all)()
    stream = _HubStream(
        ChannelHub.current(), tuple(channels), user_key, resume_from, first, frozenset(end_after)
    )
    stream.identity = identity
    # Channels authorized by their registered rules are re-checked by those rules while open.
    stream.check_rules = check_rules
    stream.max_rate = max_rate
    stream.epoch = epoch
    return EventStreamResponse(stream.body(), opening=False, heartbeat=0, on_close=stream.close)


class _HubStream:
    """One response's hub subscription: opened by its body, closed once by its ``on_close``."""

    __slots__ = (
        "channels",
        "check_rules",
        "closed",
        "end_after",
        "epoch",
        "first",
        "hub",
        "identity",
        "max_rate",
        "opened",
        "resume_from",
        "sub",
        "user_key",
    )

    def __init__(
        self,
        hub: ChannelHub,
        channels: tuple[str, ...],
        user_key: str | None,
        resume_from: str | None,
        first: FirstEventsHook | None,
        end_after: frozenset[str],
    ) -> None:
        self.hub = hub
        self.channels = channels
        self.user_key = user_key
        self.resume_from = resume_from
        self.first = first
        self.end_after = end_after
        self.sub: Subscriber | None = None
        self.opened = False  # stream_opened went out: stream_closed is owed
        self.closed = False
        self.identity: StreamIdentity | None = None
        self.check_rules = False
        self.max_rate: float | None = None
        self.epoch = 0

    async def body(self) -> AsyncIterator[bytes]:
        hub = self.hub
        try:
            sub = await hub.subscribe(
                self.channels,
                user_key=self.user_key,
                end_after=self.end_after,
                identity=self.identity,
                check_rules=self.check_rules,
                max_rate=self.max_rate,
            )
        except OverCapacity as exc:
            # 200 + retry + end: the browser comes back later. Any 4xx/5xx stops it for good.
            # A server shutting down is soon gone or back: come back at the usual pace.
            retry = (
                spread_retry_ms(conf.SSE_RETRY_MS, conf.SSE_SHUTDOWN_RETRY_SPREAD_MS)
                if hub.stopping
                else conf.SSE_OVER_CAPACITY_RETRY_MS
            )
            yield encode_opening(retry, comment=str(exc))
            return
        except UNAVAILABLE_ERRORS as exc:
            # The channel layer or the event log cannot answer now: the same "come back".
            logger.warning("a stream on %s could not subscribe: %s", ", ".join(self.channels), exc)
            yield encode_opening(conf.SSE_OVER_CAPACITY_RETRY_MS, comment=_UNAVAILABLE)
            return
        self.sub = sub
        if self.closed:  # closed while subscribing
            self._close_now()
            return
        if sub.identity is not None and changed_since(self.epoch):
            # An access notice came between the door's checks and this subscription.
            check_now(hub, [sub])
        try:
            plan = await plan_resume(hub, sub, self.resume_from)
            first = await self.first() if self.first is not None and not plan.replay else None
        except UNAVAILABLE_ERRORS as exc:
            # Nothing is sent yet: a log (or the app's state) that cannot be read now is a "come back".
            self._close_now()
            logger.warning("a stream on %s could not start: %s", ", ".join(self.channels), exc)
            yield encode_opening(conf.SSE_OVER_CAPACITY_RETRY_MS, comment=_UNAVAILABLE)
            return
        except BaseException:
            self._close_now()
            raise
        if self.closed:
            return
        if plan.reset is not None:
            hub.counts.resets += 1
        elif plan.replay:
            hub.counts.resumes += 1
        # Apps watch who is connected through these (sse.signals; chat presence uses them).
        self.opened = True
        stream_opened.send_robust(ChannelHub, channels=sub.channels, user_key=self.user_key, stream=sub)
        # The retry line and the cursor the stream starts from, one block, one write: a client
        # that comes back before the first event resumes from there (on a resumed stream it is
        # the client's own id, with the heads of any channel it marked ``*`` filled in).
        opening_cursor = sub.cursor if plan.reset is None and first is None else None
        yield encode_opening(conf.SSE_RETRY_MS, cursor=opening_cursor)
        if plan.reset is not None:
            yield encode_reset(sub.cursor, plan.reset)
        if first is not None:
            yield _first_events(sub, first)
        elif plan.replay:
            # Closed here, not by the garbage collector: a long replay gives its turn back at once.
            async with aclosing(replay(hub, sub)) as chunks:
                async for chunk in chunks:
                    yield chunk
        del plan, first
        sub.release()
        # Live. Iterated here, not through another generator: a frame less per open stream.
        async for chunk in sub.chunks():
            yield chunk

    def close(self) -> None:
        """Called once, from the loop or from a thread (``response.close()``)."""
        if not self.hub.loop.is_closed():
            self.hub.loop.call_soon_threadsafe(self._close_now)

    def _close_now(self) -> None:
        self.closed = True
        sub, self.sub = self.sub, None
        if sub is None:
            return
        self.hub.unsubscribe(sub)
        if self.opened:
            self.opened = False
            stream_closed.send_robust(ChannelHub, channels=sub.channels, user_key=sub.user_key, stream=sub)


_UNAVAILABLE = "the server cannot open this stream now; come back soon"

# The event log found ready (its tables exist) in this process: asked once, not per stream.
_ready_log: EventLog | None = None
_problem_logged_at: float | None = None
_looking: dict[asyncio.AbstractEventLoop, asyncio.Task[str | None]] = {}
_PROBLEM_LOG_INTERVAL = 60.0


async def _event_log_problem() -> StreamRefused | None:
    """A 503 naming the fix while the event log cannot work (``manage.py migrate`` not run).

    Without it every stream would be a ``200`` whose body fails at its first query, which
    a browser retries forever and a server log mentions once. Asked until the answer is
    yes, so a server started before ``migrate`` serves streams once it ran. An ERROR line
    names the fix, at most once a minute.
    """
    global _ready_log, _problem_logged_at
    log = get_event_log()
    if log is _ready_log:
        return None
    # One look at a time per loop: the streams of a reconnect storm after a restart wait
    # for the first one's answer instead of each queueing a query of their own.
    loop = asyncio.get_running_loop()
    looking = _looking.get(loop)
    if looking is None:
        looking = _looking[loop] = loop.create_task(sync_to_async(log.setup_problem)())
        looking.add_done_callback(_looked)
    try:
        problem = await asyncio.shield(looking)
    except UNAVAILABLE_ERRORS:
        return None  # a database that cannot answer now: the stream says "come back" itself
    if problem is None:
        _ready_log, _problem_logged_at = log, None
        return None
    now = time.monotonic()
    if _problem_logged_at is None or now - _problem_logged_at >= _PROBLEM_LOG_INTERVAL:
        _problem_logged_at = now
        logger.error("every stream answers 503 until this is fixed: %s", problem)
    return StreamRefused(503, f"streams are not set up on this server: {problem}")


def _looked(task: asyncio.Task[str | None]) -> None:
    _looking.pop(task.get_loop(), None)
    if not task.cancelled():
        task.exception()  # retrieved: the streams that waited for it may all be gone


# The causes already logged in this process: one WARNING each.
_thread_warnings: set[str] = set()


def _warn_if_thread_per_stream(path: str | None) -> None:
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
    if key in _thread_warnings:
        return
    _thread_warnings.add(key)
    logger.warning(
        "each open stream holds an OS thread of its own for as long as it lasts "
        "(1,000 streams, 1,000 idle threads): %s.",
        cause,
    )


def _first_events(sub: Subscriber, first: FirstEvents) -> bytes:
    if len(first.positions) != len(sub.channels):
        raise ValueError(f"FirstEvents.positions needs one seq per channel ({len(sub.channels)})")
    # Never behind what the stream was already at: live events below are not held for it.
    given = [p if isinstance(p, LogPosition) else LogPosition(p) for p in first.positions]
    had = [LogPosition(seq, check) for seq, check in zip(sub.positions, sub.checks, strict=True)]
    sub.start_at([b if b.seq > a.seq else a for a, b in zip(had, given, strict=True)])
    cursor = sub.cursor
    frames = []
    for event in first.events:
        frames.append(encode_event(Event(data=event.data, event=event.event, id=cursor)))
        if event.event in sub.end_after:
            sub.close("ended", drop_queued=True)
            break
    return b"".join(frames) or encode_id(cursor) + b"\n"
