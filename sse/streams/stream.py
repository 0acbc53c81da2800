"""Open a hub-backed stream: subscribe, resume or start afresh, then live events."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from sse.auth.identity import StreamIdentity, changed_since, notice_epoch
from sse.auth.revocation import check_now
from sse.channels.registry import validate_channel_name
from sse.conf import conf
from sse.hub.channel_hub import ChannelHub, OverCapacity
from sse.hub.subscriber import Subscriber
from sse.server.asgi import on_stream_thread
from sse.signals import stream_closed, stream_opened
from sse.streams.access import (
    UNAVAILABLE_ERRORS,
    StreamAuth,
    StreamRefused,
    auth_of,
    authenticate,
    authorize,
    client_of,
    last_event_id,
    requested_rate,
)
from sse.streams.first import FirstEvents, FirstEventsHook, first_events
from sse.streams.readiness import event_log_problem, warn_if_thread_per_stream
from sse.streams.response import EventStreamResponse
from sse.streams.resume import ResumePlan, plan_resume, replay
from sse.wire.encoding import encode_opening, encode_reset, spread_retry_ms

__all__ = ["FirstEvents", "open_stream", "stream_response"]

logger = logging.getLogger("sse.hub")


async def open_stream(
    request: HttpRequest, channels: Sequence[str], *, user: Any = None, auth: StreamAuth | None = None
) -> HttpResponseBase:
    """Authenticate, authorize and stream ``channels``; errors become 4xx answers.

    ``auth``: what :func:`sse.streams.access.authenticate` found for this request. ``user``:
    a user the view found itself (bound to its password and is_active), or the one
    ``authenticate_stream`` returned (its session comes from the request).
    """
    # Access notices (sse.access_changed) from here on re-check the stream once subscribed:
    # a change that commits after its rules read the database is not missed.
    epoch = notice_epoch()
    try:
        names = sorted(set(channels))
        for name in names:
            validate_channel_name(name)
        if auth is None and user is not None:
            auth = auth_of(request, user) or StreamAuth.of_user(user, epoch)
        if auth is None:
            auth = await authenticate(request, names)
        await authorize(auth.user if user is None else user, names)
        resume_from = last_event_id(request)
        max_rate = requested_rate(request)
    except StreamRefused as refused:
        return refused.response()
    spec = _Spec(
        tuple(names),
        auth.identity.user_pk,
        resume_from,
        None,
        frozenset(),
        auth.identity,
        True,
        max_rate,
        client_of(request),
    )
    return await _response(spec, min(epoch, auth.epoch), request.path)


async def stream_response(
    channels: Sequence[str],
    *,
    user_key: str | None,
    resume_from: str | None = None,
    first: FirstEventsHook | None = None,
    end_after: Sequence[str] = (),
    max_rate: float | None = None,
    check_rules: bool = False,
    auth: StreamAuth | None = None,
    request: HttpRequest | None = None,
) -> HttpResponseBase:
    """A stream of already-authorized ``channels`` (sorted, distinct): an :class:`EventStreamResponse`,
    or a ``503`` naming the fix while the event log cannot work (``manage.py migrate`` not run).

    ``first``: awaited once subscribed, when the stream starts afresh (no id to resume from,
    or a ``reset``); its events go out before any live one. ``end_after``: event names after
    which the stream ends (a job's final event). ``max_rate``: at most this many events per
    second from its throttled channels (``sse.streams.access.requested_rate`` reads ``?max_rate=``).
    ``check_rules``: the channels' registered rules (``@sse.channel``) admit this user, and are
    re-run while it is open, as for ``open_stream`` (every ``SSE_ACCESS_RECHECK_SECONDS``, and at
    once on ``sse.access_changed``): the stream ends when one says no; without it only the user's
    session and password are re-checked. ``auth``: what ``sse.streams.access.authenticate`` found
    for ``user_key``: the session (or token) the stream stands on while open. ``request``: the
    request it answers: without ``auth``, what ``sse.authenticate_stream`` found for it; and for
    operators' views of the stream (``sse.operator.StreamInfo``: its user agent and HTTP version).
    """
    identity, epoch = _stands_on(auth, request, user_key)
    spec = _Spec(
        tuple(channels),
        user_key,
        resume_from,
        first,
        frozenset(end_after),
        identity,
        check_rules,
        max_rate,
        None if request is None else client_of(request),
    )
    return await _response(spec, epoch, None)


@dataclass(frozen=True, slots=True)
class _Spec:
    """What one stream is for: its channels, whose it is, where it starts and ends."""

    channels: tuple[str, ...]
    user_key: str | None
    resume_from: str | None
    first: FirstEventsHook | None
    end_after: frozenset[str]
    identity: StreamIdentity | None
    # Channels authorized by their registered rules are re-checked by those rules while open.
    check_rules: bool
    max_rate: float | None
    # (User-Agent, HTTP version) of its request, for operators (sse.operator).
    client: tuple[str, str] | None


async def _response(spec: _Spec, epoch: int, path: str | None) -> HttpResponseBase:
    problem = await event_log_problem()
    if problem is not None:
        return problem.response()
    # Streams are long: a thread of this request's own gives its DB connection back
    # first. The thread all streams share keeps its one (CONN_MAX_AGE decides).
    if not on_stream_thread():
        warn_if_thread_per_stream(path)
        await sync_to_async(connections.close_all)()
    stream = _HubStream(ChannelHub.current(), spec, epoch)
    return EventStreamResponse(stream.body(), opening=False, heartbeat=0, on_close=stream.close)


def _stands_on(
    auth: StreamAuth | None, request: HttpRequest | None, user_key: str | None
) -> tuple[StreamIdentity | None, int]:
    """The identity a stream of ``user_key`` stands on (``auth``'s, else the request's) and its epoch."""
    if auth is None and request is not None:
        auth = getattr(request, "sse_auth", None)
    if auth is None:
        return None, notice_epoch()
    return (auth.identity if auth.identity.user_pk == user_key else None), auth.epoch


_UNAVAILABLE = "the server cannot open this stream now; come back soon"


class _ComeBack(Exception):
    """The stream cannot start now and nothing is sent yet: ``200``, ``retry:``, end. The
    browser comes back later; any 4xx/5xx would stop it for good."""

    def __init__(self, retry_ms: int, comment: str) -> None:
        super().__init__(comment)
        self.block = encode_opening(retry_ms, comment=comment)


class _HubStream:
    """One response's hub subscription: opened by its body, closed once by its ``on_close``.

    The subscription is made when the body starts, not when the response is made. Django
    closes only the responses it got as far as sending: a client that goes away while the
    middleware still runs (a page navigated away at once) must leave no subscription behind,
    nor a presence, nor a place in the per-user cap.
    """

    __slots__ = ("closed", "epoch", "hub", "opened", "spec", "sub")

    def __init__(self, hub: ChannelHub, spec: _Spec, epoch: int) -> None:
        self.hub = hub
        self.spec = spec
        self.epoch = epoch  # the access notices taken in when the request authenticated
        self.sub: Subscriber | None = None
        self.opened = False  # stream_opened went out: stream_closed is owed
        self.closed = False

    async def body(self) -> AsyncIterator[bytes]:
        try:
            started = await self._start()
        except _ComeBack as later:
            yield later.block
            return
        if started is None:  # closed meanwhile
            return
        sub, plan, first = started
        self._opened(sub, plan)
        # The retry line and the cursor the stream starts from, one block, one write: a client
        # that comes back before the first event resumes from there (on a resumed stream it is
        # the client's own id, with the heads of any channel it marked ``*`` filled in).
        opening_cursor = sub.cursor if plan.reset is None and first is None else None
        yield encode_opening(conf.SSE_RETRY_MS, cursor=opening_cursor)
        if plan.reset is not None:
            yield encode_reset(sub.cursor, plan.reset)
        if first is not None:
            yield first_events(sub, first)
        elif plan.replay:
            # Closed here, not by the garbage collector: a long replay gives its turn back at once.
            async with aclosing(replay(self.hub, sub)) as chunks:
                async for chunk in chunks:
                    yield chunk
        del started, plan, first
        sub.release()
        # Live. Iterated here, not through another generator: a frame less per open stream.
        async for chunk in sub.chunks():
            yield chunk

    async def _start(self) -> tuple[Subscriber, ResumePlan, FirstEvents | None] | None:
        """Subscribed, resume planned, first events read; None if closed meanwhile."""
        self.sub = sub = await self._subscribe()
        sub.client = self.spec.client
        if self.closed:  # closed while subscribing
            self._close_now()
            return None
        if sub.identity is not None and changed_since(self.epoch):
            # An access notice came between the door's checks and this subscription.
            check_now(self.hub, [sub])
        hook = self.spec.first
        try:
            plan = await plan_resume(self.hub, sub, self.spec.resume_from)
            first = await hook() if hook is not None and not plan.replay else None
        except UNAVAILABLE_ERRORS as exc:
            # A log (or the app's state) that cannot be read now is a "come back".
            self._close_now()
            raise self._unavailable("start", exc) from exc
        except BaseException:
            self._close_now()
            raise
        return None if self.closed else (sub, plan, first)

    async def _subscribe(self) -> Subscriber:
        spec, hub = self.spec, self.hub
        try:
            return await hub.subscribe(
                spec.channels,
                user_key=spec.user_key,
                end_after=spec.end_after,
                identity=spec.identity,
                check_rules=spec.check_rules,
                max_rate=spec.max_rate,
            )
        except OverCapacity as exc:
            # A server shutting down is soon gone or back: come back at the usual pace.
            if hub.stopping:
                raise _ComeBack(
                    spread_retry_ms(conf.SSE_RETRY_MS, conf.SSE_SHUTDOWN_RETRY_SPREAD_MS), str(exc)
                ) from None
            raise _ComeBack(conf.SSE_OVER_CAPACITY_RETRY_MS, str(exc)) from None
        except UNAVAILABLE_ERRORS as exc:
            # The channel layer or the event log cannot answer now.
            raise self._unavailable("subscribe", exc) from exc

    def _unavailable(self, step: str, exc: BaseException) -> _ComeBack:
        logger.warning("a stream on %s could not %s: %s", ", ".join(self.spec.channels), step, exc)
        return _ComeBack(conf.SSE_OVER_CAPACITY_RETRY_MS, _UNAVAILABLE)

    def _opened(self, sub: Subscriber, plan: ResumePlan) -> None:
        if plan.reset is not None:
            self.hub.counts.resets += 1
        elif plan.replay:
            self.hub.counts.resumes += 1
        # Apps watch who is connected through these (sse.signals; chat presence uses them).
        self.opened = True
        stream_opened.send_robust(ChannelHub, channels=sub.channels, user_key=self.spec.user_key, stream=sub)

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
