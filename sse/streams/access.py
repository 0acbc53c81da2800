"""Who is asking for a stream, may they, and from where: the request side of a stream.

Every refusal is a :class:`StreamRefused`, answered as plain text: never a
redirect (EventSource cannot follow one to a login page), never a 500.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils.crypto import constant_time_compare

from sse.auth.batched import batched_session_user, look_up
from sse.auth.identity import StreamIdentity, load_session, remember, session_holds
from sse.auth.tokens import InvalidToken, StreamToken, TokenExpired, auth_digest, verify_token
from sse.channels.registry import (
    ChannelNotFound,
    check_access_all,
    find_pattern,
    registered_patterns,
    validate_channel_name,
)
from sse.channels.throttle import parse_rate
from sse.conf import conf
from sse.server.asgi import on_stream_thread
from sse.wire.encoding import encode_opening

__all__ = [
    "MAX_CHANNELS_PER_STREAM",
    "UNAVAILABLE_ERRORS",
    "StreamRefused",
    "StreamUnavailable",
    "authenticate_stream",
    "authorize",
    "channels_from_query",
    "last_event_id",
    "not_allowed_message",
    "requested_rate",
]

MAX_CHANNELS_PER_STREAM = 32
_MAX_LAST_EVENT_ID = 1024
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


class StreamUnavailable(StreamRefused):
    """The stream cannot open now (its database or channel layer is unavailable).

    Answered ``200`` with a ``retry:`` line and an end: a browser's EventSource comes
    back after it, where any 5xx would make it give up for good.
    """

    def __init__(self, message: str = "the server cannot open this stream now; come back soon") -> None:
        super().__init__(200, message)

    def response(self) -> HttpResponse:
        body = encode_opening(conf.SSE_OVER_CAPACITY_RETRY_MS, comment=self.message)
        response = HttpResponse(body, content_type="text/event-stream; charset=utf-8")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    # What a database, session store, cache or channel layer that cannot be reached raises.
    # Not every error: a missing table or a WSGI server that cannot run streams stays a 500.
    found: list[type[BaseException]] = [OperationalError, InterfaceError, ConnectionError, TimeoutError]
    try:
        from redis import exceptions as redis_errors  # with channels-redis
    except ImportError:  # pragma: no cover - depends on what is installed
        pass
    else:
        found += [redis_errors.ConnectionError, redis_errors.TimeoutError]
    return tuple(found)


UNAVAILABLE_ERRORS = _unavailable_errors()


def _token_from(request: HttpRequest) -> tuple[str | None, bool]:
    """The stream token the request brings, and whether it came as ``Authorization: Bearer``."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        if not value.strip():
            raise StreamRefused(401, "Authorization header must be 'Bearer <token>'")
        return value.strip(), True
    # Any other scheme (Basic, for a site behind basic auth; DRF's Token) is not a stream
    # token: the token parameter, the site's API authentication or the session decides.
    values = request.GET.getlist("token")
    if len(values) > 1:
        raise StreamRefused(400, "give one token, not several")
    if values:
        if not values[0]:
            raise StreamRefused(401, "empty token")
        return values[0], False
    return None, False


async def authenticate_stream(request: HttpRequest, channels: Sequence[str]) -> Any:
    """The user asking for ``channels``: from a stream token, the site's API credentials
    (``SSE_AUTHENTICATION_CLASSES``, sse.auth.api_credentials), else the session.

    Raises :class:`StreamRefused` (401/403), or :class:`StreamUnavailable` when the
    database (or session store) cannot answer now.
    """
    token_value, in_header = _token_from(request)
    try:
        if token_value is not None:
            return await _token_user(token_value, channels, request if in_header else None)
        if "authorization" in request.headers:
            user = await _api_user(request)
            if user is not None:
                return user
        return await _session_user(request)
    except UNAVAILABLE_ERRORS as exc:
        raise StreamUnavailable() from exc


async def _api_user(request: HttpRequest) -> Any | None:
    """The user the site's API authentication classes find, or None (then: a refusal, or the
    session). Session-only classes need no call: sse reads the session itself, batched."""
    from sse.auth import api_credentials as api_auth

    classes = api_auth.stream_classes()
    if not api_auth.beyond_session(classes):
        return None
    try:
        found = await sync_to_async(api_auth.authenticate)(request, classes)
    except api_auth.AuthenticationRefused as refused:
        raise StreamRefused(refused.status, refused.message) from None
    if found is None:
        return None
    user = found.user
    if not getattr(user, "is_active", True):
        raise StreamRefused(401, "the user is inactive")
    # Re-checked while open like any stream (deactivated, password changed), and ended at
    # the credential's own expiry.
    remember(StreamIdentity(str(user.pk), found.session_key, auth_digest(user), found.expires_at))
    return user


async def _token_user(value: str, channels: Sequence[str], request: HttpRequest | None = None) -> Any:
    """The user of stream token ``value``; with ``request`` (the value came as a Bearer
    header), a value that is not a stream token goes to the site's API authentication."""
    try:
        token = verify_token(value)
    except InvalidToken as exc:
        # An expired stream token is still ours; anything else in a Bearer header may be
        # the site's own API credential (a simplejwt access token).
        user = None
        if request is not None and not isinstance(exc, TokenExpired):
            user = await _api_user(request)
        if user is not None:
            return user
        raise StreamRefused(401, f"{exc}: {_new_token()}") from None
    missing = set(channels) - token.channels
    if missing:
        raise StreamRefused(403, "the token does not cover channel " + sorted(missing)[0])
    if on_stream_thread():
        # Batched with the other streams opening now (sse.auth.batched).
        found = await look_up(session_key=token.session_key, user_pk=str(token.user_pk))
        user = found.users.get(str(token.user_pk))
        if user is None:
            raise StreamRefused(401, "the token's user no longer exists")
        session: dict[str, Any] | None = found.sessions.get(token.session_key) if token.session_key else None
    else:
        User = get_user_model()
        try:
            user = await User._default_manager.aget(pk=token.user_pk)
        except (User.DoesNotExist, ValueError, TypeError):
            raise StreamRefused(401, "the token's user no longer exists") from None
        session = await sync_to_async(load_session)(token.session_key) if token.session_key else None
    if not getattr(user, "is_active", True):
        raise StreamRefused(401, "the token's user is inactive")
    _check_binding(token, user, session)
    remember(StreamIdentity(str(user.pk), token.session_key, token.auth_digest))
    return user


def _new_token() -> str:
    """Where a client gets a new stream token: the token endpoint where this site mounts
    ``sse.api.urls``, reversed; a site that mints tokens itself gets no URL it does not serve."""
    try:
        url = reverse("sse-api:tokens")
    except NoReverseMatch:
        return "get a new stream token"
    return f"ask POST {url} for a new one"


def _check_binding(token: StreamToken, user: Any, session: dict[str, Any] | None) -> None:
    again = f": sign in and {_new_token()}"
    if token.auth_digest is not None:
        current = auth_digest(user)
        if current is None or not constant_time_compare(current, token.auth_digest):
            raise StreamRefused(401, "the token's user changed password" + again)
    if token.session_key is not None:
        if not session_holds(session, str(user.pk)):
            raise StreamRefused(401, "the session the token was minted from has signed out" + again)


async def _session_user(request: HttpRequest) -> Any:
    auser = getattr(request, "auser", None)
    if auser is None:
        raise StreamRefused(401, "sign in, or pass a stream token")
    # Batched with the other streams opening now where Django's answer is certain.
    user = await batched_session_user(request) if on_stream_thread() else None
    if user is None:
        user = await auser()
    if not user.is_authenticated:
        raise StreamRefused(401, "sign in, or pass a stream token")
    session = getattr(request, "session", None)
    remember(StreamIdentity(str(user.pk), getattr(session, "session_key", None), auth_digest(user)))
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
