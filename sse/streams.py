"""Open a hub-backed stream for a request: who is asking, may they, from where."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.http import HttpRequest, HttpResponse

from sse.conf import conf
from sse.cursor import InvalidCursor, parse_cursor
from sse.hub import CHUNK_BYTES, ChannelHub, OverCapacity, Subscriber, encode_body
from sse.registry import (
    ChannelNotFound,
    check_access,
    find_pattern,
    is_ephemeral,
    registered_patterns,
    validate_channel_name,
)
from sse.response import EventStreamResponse, opening_block
from sse.signals import stream_closed, stream_opened
from sse.storage import get_event_log
from sse.tokens import InvalidToken, verify_token

__all__ = ["StreamRefused", "authenticate_stream", "not_allowed_message", "open_stream", "stream_response"]

logger = logging.getLogger("sse.stream")

MAX_CHANNELS_PER_STREAM = 32
_MAX_LAST_EVENT_ID = 1024
_REPLAY_PAGE = 500
_PATTERNS_SHOWN = 20


class StreamRefused(Exception):
    """Turns into a plain-text 4xx answer; never a redirect, never a 500."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> HttpResponse:
        response = HttpResponse(
            self.message + "\n", status=self.status, content_type="text/plain; charset=utf-8"
        )
        if self.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="sse"'
        response["Cache-Control"] = "no-store"
        return response


def _token_from(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise StreamRefused(401, "Authorization header must be 'Bearer <token>'")
        return value.strip()
    values = request.GET.getlist("token")
    if len(values) > 1:
        raise StreamRefused(400, "give one token, not several")
    if values:
        if not values[0]:
            raise StreamRefused(401, "empty token")
        return values[0]
    return None


async def authenticate_stream(request: HttpRequest, channels: Sequence[str]) -> Any:
    """The user asking for ``channels``: from a stream token, else the session."""
    token_value = _token_from(request)
    if token_value is not None:
        try:
            token = verify_token(token_value)
        except InvalidToken as exc:
            raise StreamRefused(401, f"{exc}: ask POST /api/sse/tokens/ for a new one") from None
        missing = set(channels) - token.channels
        if missing:
            raise StreamRefused(403, "the token does not cover channel " + sorted(missing)[0])
        User = get_user_model()
        try:
            user = await User._default_manager.aget(pk=token.user_pk)
        except (User.DoesNotExist, ValueError, TypeError):
            raise StreamRefused(401, "the token's user no longer exists") from None
        if not user.is_active:
            raise StreamRefused(401, "the token's user is inactive")
        return user
    auser = getattr(request, "auser", None)
    if auser is None:
        raise StreamRefused(401, "sign in, or pass a stream token")
    user = await auser()
    if not user.is_authenticated:
        raise StreamRefused(401, "sign in, or pass a stream token")
    return user


def not_allowed_message(name: str) -> str:
    """The 403 text for ``name``, shared by the stream and the token endpoint.

    A rule's denial and a channel no registered pattern matches read the same,
    except under DEBUG, where the second one says so: a rule module that no
    ``AppConfig.ready()`` imports is the usual mistake. Without DEBUG the
    registered patterns are nobody's business.
    """
    message = f"not allowed to read channel {name}"
    if not settings.DEBUG or find_pattern(name) is not None:
        return message
    patterns = registered_patterns()
    if not patterns:
        why = "no channel pattern is registered at all"
    else:
        shown = ", ".join(patterns[:_PATTERNS_SHOWN])
        more = len(patterns) - _PATTERNS_SHOWN
        if more > 0:
            shown += f" and {more} more"
        why = f"no registered channel pattern matches it (registered: {shown})"
    return (
        f"{message}: {why}; register one with @sse.channel(...) in a module your "
        "AppConfig.ready() imports (this detail shows only under DEBUG)"
    )


async def authorize(user: Any, channels: Sequence[str]) -> None:
    for name in channels:
        try:
            allowed = await check_access(user, name)
        except ChannelNotFound as exc:
            raise StreamRefused(404, str(exc) or f"channel {name} not found") from None
        if not allowed:
            raise StreamRefused(403, not_allowed_message(name))


def channels_from_query(request: HttpRequest) -> list[str]:
    names = request.GET.getlist("channel")
    if not names:
        raise StreamRefused(400, "name at least one channel: ?channel=NAME")
    if len(names) > MAX_CHANNELS_PER_STREAM:
        raise StreamRefused(400, f"at most {MAX_CHANNELS_PER_STREAM} channels per stream")
    for name in names:
        try:
            validate_channel_name(name)
        except ValueError as exc:
            raise StreamRefused(400, str(exc)) from None
    return names


def last_event_id(request: HttpRequest) -> str | None:
    value = request.headers.get("Last-Event-ID")
    if value is None:
        value = request.GET.get("lastEventId")
    if value is None or value == "":
        return None
    if len(value) > _MAX_LAST_EVENT_ID or not value.isascii() or not value.isprintable():
        raise StreamRefused(400, "Last-Event-ID is not an id this server sent")
    return value


async def open_stream(request: HttpRequest, channels: Sequence[str], *, user: Any = None) -> HttpResponse:
    """Authenticate, authorize and stream ``channels``; errors become 4xx answers."""
    try:
        names = sorted(set(channels))
        for name in names:
            validate_channel_name(name)
        if user is None:
            user = await authenticate_stream(request, names)
        await authorize(user, names)
        resume_from = last_event_id(request)
    except StreamRefused as refused:
        return refused.response()
    return await stream_response(names, user_key=str(user.pk), resume_from=resume_from)


async def stream_response(
    channels: Sequence[str], *, user_key: str | None, resume_from: str | None = None
) -> EventStreamResponse:
    """A stream of already-authorized ``channels`` (sorted, distinct).

    The hub subscription is made when the body starts, not here. Django closes
    only the responses it got as far as sending: a client that goes away while
    the middleware still runs (a page navigated away at once) must leave no
    subscription behind, nor a presence, nor a place in the per-user cap.
    """
    # Streams are long: give the DB connection of this request back first.
    await sync_to_async(connections.close_all)()
    stream = _HubStream(ChannelHub.current(), tuple(channels), user_key, resume_from)
    return EventStreamResponse(stream.body(), opening=False, heartbeat=None, on_close=stream.close)


class _HubStream:
    """One response's hub subscription: opened by its body, closed once by its ``on_close``."""

    __slots__ = ("channels", "closed", "hub", "opened", "resume_from", "sub", "user_key")

    def __init__(
        self, hub: ChannelHub, channels: tuple[str, ...], user_key: str | None, resume_from: str | None
    ) -> None:
        self.hub = hub
        self.channels = channels
        self.user_key = user_key
        self.resume_from = resume_from
        self.sub: Subscriber | None = None
        self.opened = False  # stream_opened went out: stream_closed is owed
        self.closed = False

    async def body(self) -> AsyncIterator[bytes]:
        hub = self.hub
        try:
            sub = await hub.subscribe(self.channels, user_key=self.user_key)
        except OverCapacity as exc:
            # 200 + retry + end: the browser comes back later. Any 4xx/5xx stops it for good.
            # A server shutting down is soon gone or back: come back at the usual pace.
            retry = conf.SSE_RETRY_MS if hub.stopping else conf.SSE_OVER_CAPACITY_RETRY_MS
            yield opening_block(retry, f": {exc}\n".encode())
            return
        self.sub = sub
        if self.closed:  # closed while subscribing
            self._close_now()
            return
        try:
            plan = await _plan_resume(hub, sub, self.resume_from)
        except BaseException:
            self._close_now()
            raise
        if self.closed:
            return
        if plan.reset is not None:
            hub.counters["resets"] += 1
        elif plan.replay:
            hub.counters["resumes"] += 1
        # Apps watch who is connected through these (sse.signals; chat presence uses them).
        self.opened = True
        stream_opened.send_robust(ChannelHub, channels=sub.channels, user_key=self.user_key, stream=sub)
        fresh = plan.reset is None and not plan.replay
        # The retry line and, on a fresh stream, the cursor: one block, one write.
        yield opening_block(conf.SSE_RETRY_MS, b"id: " + sub.cursor.encode() + b"\n" if fresh else b"")
        if not fresh:
            async for chunk in _reset_or_replay(hub, sub, plan):
                yield chunk
        del plan
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


class _ResumePlan:
    __slots__ = ("replay", "reset")

    def __init__(self, reset: str | None, replay: bool) -> None:
        self.reset = reset
        self.replay = replay


async def _plan_resume(hub: ChannelHub, sub: Subscriber, resume_from: str | None) -> _ResumePlan:
    live = [hub.head(name) for name in sub.channels]
    if resume_from is None:
        sub.positions = live
        return _ResumePlan(None, False)
    try:
        seqs = parse_cursor(resume_from, sub.tag, len(sub.channels))
    except InvalidCursor as exc:
        sub.positions = live
        return _ResumePlan(str(exc), False)
    log = get_event_log()
    heads = await hub.run_db(log.heads, sub.channels)
    firsts = await hub.run_db(log.first_seqs, sub.channels)
    for name, seq in zip(sub.channels, seqs, strict=True):
        if seq > heads[name]:
            sub.positions = live
            return _ResumePlan("unknown-id", False)
        kept_from = firsts.get(name, heads[name] + 1)
        if not is_ephemeral(name) and seq < kept_from - 1:
            sub.positions = live
            return _ResumePlan("expired", False)
    sub.positions = seqs
    return _ResumePlan(None, True)


async def _reset_or_replay(hub: ChannelHub, sub: Subscriber, plan: _ResumePlan) -> AsyncIterator[bytes]:
    if plan.reset is not None:
        yield b"id: " + sub.cursor.encode() + b"\n" + encode_body("reset", json.dumps({"reason": plan.reset}))
    if plan.replay:
        log = get_event_log()
        for index, name in enumerate(sub.channels):
            ephemeral = is_ephemeral(name)
            while not sub.closed:
                # Pages of about a megabyte, chunks of about CHUNK_BYTES: a long
                # replay of large events never sits in memory at once.
                limit = min(_REPLAY_PAGE, hub.page.limit())
                events = await hub.run_db(log.read, name, sub.positions[index], limit)
                hub.page.observe(events)
                frames: list[bytes] = []
                size = 0
                for ev in events:
                    if ev.seq != sub.positions[index] + 1 and not ephemeral:
                        # Trimmed between the plan and this read: say so, as for an old id.
                        frames.append(
                            b"id: "
                            + sub.cursor.encode()
                            + b"\n"
                            + encode_body("reset", json.dumps({"reason": "expired"}))
                        )
                    sub.positions[index] = ev.seq
                    frame = b"id: " + sub.cursor.encode() + b"\n" + encode_body(ev.event, ev.data)
                    frames.append(frame)
                    size += len(frame)
                    if size >= CHUNK_BYTES:
                        yield b"".join(frames)
                        frames, size = [], 0
                if frames:
                    yield b"".join(frames)
                if len(events) < limit:
                    break
