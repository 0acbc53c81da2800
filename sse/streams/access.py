"""Who is asking for a stream, may they, and from where: the request side of a stream.

Every refusal is a :class:`StreamRefused`, answered as plain text: never a
redirect (EventSource cannot follow one to a login page), never a 500. Who is asking:
:mod:`sse.streams.authentication`; how a refusal reads: :mod:`sse.streams.refusals` (both
importable from here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from sse.channels.registry import (
    ChannelNotFound,
    check_access_all,
    find_pattern,
    registered_patterns,
    validate_channel_name,
)
from sse.channels.throttle import parse_rate
from sse.streams.authentication import StreamAuth, auth_of, authenticate, authenticate_stream
from sse.streams.refusals import UNAVAILABLE_ERRORS, StreamRefused, StreamUnavailable

__all__ = [
    "MAX_CHANNELS_PER_STREAM",
    "UNAVAILABLE_ERRORS",
    "StreamAuth",
    "StreamRefused",
    "StreamUnavailable",
    "auth_of",
    "authenticate",
    "authenticate_stream",
    "authorize",
    "channels_from_query",
    "client_of",
    "last_event_id",
    "not_allowed_message",
    "requested_rate",
]

MAX_CHANNELS_PER_STREAM = 32
_MAX_LAST_EVENT_ID = 1024
_PATTERNS_SHOWN = 20


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
    outcomes = await check_access_all(user, channels)
    for name, allowed in zip(channels, outcomes, strict=True):
        if isinstance(allowed, ChannelNotFound):
            raise StreamRefused(404, str(allowed) or f"channel {name} not found") from None
        if isinstance(allowed, UNAVAILABLE_ERRORS):
            raise StreamUnavailable() from allowed
        if isinstance(allowed, Exception):
            raise allowed
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


def requested_rate(request: HttpRequest) -> float | None:
    """``?max_rate=``: the events per second a client wants at most from throttled channels."""
    values = request.GET.getlist("max_rate")
    if not values:
        return None
    if len(values) > 1:
        raise StreamRefused(400, "give one max_rate, not several")
    try:
        return parse_rate(values[0][:32], "max_rate")
    except ValueError as exc:
        raise StreamRefused(400, str(exc)) from None


def client_of(request: HttpRequest) -> tuple[str, str]:
    """(User-Agent, HTTP version) of a stream's request, for operators (cut: they are shown)."""
    scope = getattr(request, "scope", None)
    version = scope.get("http_version") if isinstance(scope, dict) else None
    transport = f"HTTP/{version}" if version else request.META.get("SERVER_PROTOCOL", "")
    return request.headers.get("User-Agent", "")[:300], str(transport)[:20]
