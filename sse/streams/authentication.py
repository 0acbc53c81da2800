"""Who is asking for a stream: a stream token, the site's API credentials, or the session.

The answer is a value, :class:`StreamAuth`: the user, the :class:`StreamIdentity` the
stream stands on while open (its session, password, credential expiry) and the access-notice
epoch then. The view hands it to the stream (``open_stream(..., auth=)``,
``stream_response(..., auth=)``); :func:`authenticate_stream`, which returns the user only,
leaves it on the request for ``open_stream(request, ..., user=user)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.crypto import constant_time_compare

from sse.auth.batched import batched_session_user, look_up
from sse.auth.identity import StreamIdentity, load_session, notice_epoch, session_holds
from sse.auth.tokens import InvalidToken, StreamToken, TokenExpired, auth_digest, verify_token
from sse.server.asgi import on_stream_thread
from sse.streams.refusals import UNAVAILABLE_ERRORS, StreamRefused, StreamUnavailable

__all__ = ["StreamAuth", "auth_of", "authenticate", "authenticate_stream"]


@dataclass(frozen=True, slots=True)
class StreamAuth:
    """What authenticating a stream's request found, handed on to the stream."""

    user: Any
    #: The session (or token, or API credential) the stream stands on while open.
    identity: StreamIdentity
    #: ``notice_epoch()`` when authenticating began: a stream subscribed after a later
    #: access notice is re-checked at once (a change that committed after its rules read).
    epoch: int

    @classmethod
    def of_user(cls, user: Any, epoch: int) -> StreamAuth:
        """A user the app found by itself: still bound to its password and its is_active."""
        return cls(user, StreamIdentity(str(user.pk), None, auth_digest(user)), epoch)


async def authenticate(request: HttpRequest, channels: Sequence[str]) -> StreamAuth:
    """The user asking for ``channels``, from a stream token, the site's API credentials
    (``SSE_AUTHENTICATION_CLASSES``, sse.auth.api_credentials), else the session; with the
    identity the stream stands on.

    Raises :class:`StreamRefused` (401/403), or :class:`StreamUnavailable` when the
    database (or session store) cannot answer now.
    """
    epoch = notice_epoch()
    token_value, in_header = _token_from(request)
    try:
        if token_value is not None:
            user, identity = await _token_user(token_value, channels, request if in_header else None)
        elif "authorization" in request.headers and (found := await _api_user(request)) is not None:
            user, identity = found
        else:
            user, identity = await _session_user(request)
    except UNAVAILABLE_ERRORS as exc:
        raise StreamUnavailable() from exc
    return StreamAuth(user, identity, epoch)


async def authenticate_stream(request: HttpRequest, channels: Sequence[str]) -> Any:
    """:func:`authenticate`, returning the user; its :class:`StreamAuth` stays on the request
    (:func:`auth_of`), which ``open_stream(request, channels, user=user)`` reads."""
    auth = await authenticate(request, channels)
    request.sse_auth = auth  # type: ignore[attr-defined]  # as Django's middleware sets request.user
    return auth.user


def auth_of(request: HttpRequest, user: Any) -> StreamAuth | None:
    """What :func:`authenticate_stream` found for ``user`` on this request, if it ran."""
    auth: StreamAuth | None = getattr(request, "sse_auth", None)
    if auth is None or str(user.pk) != auth.identity.user_pk:
        return None
    return auth


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


async def _api_user(request: HttpRequest) -> tuple[Any, StreamIdentity] | None:
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
    return user, StreamIdentity(str(user.pk), found.session_key, auth_digest(user), found.expires_at)


async def _token_user(
    value: str, channels: Sequence[str], request: HttpRequest | None = None
) -> tuple[Any, StreamIdentity]:
    """The user of stream token ``value``; with ``request`` (the value came as a Bearer
    header), a value that is not a stream token goes to the site's API authentication."""
    try:
        token = verify_token(value)
    except InvalidToken as exc:
        # An expired stream token is still ours; anything else in a Bearer header may be
        # the site's own API credential (a simplejwt access token).
        api = None
        if request is not None and not isinstance(exc, TokenExpired):
            api = await _api_user(request)
        if api is not None:
            return api
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
    return user, StreamIdentity(str(user.pk), token.session_key, token.auth_digest)


def _new_token() -> str:
    """Where a client gets a new stream token: the token endpoint where this site mounts
    ``sse.api.urls``, reversed; a site that mints tokens itself gets no URL it does not serve."""
    try:
        url = reverse("sse-api:tokens")
    except NoReverseMatch:
        return "get a new stream token"
    return f"ask POST {url} for a new one"


def _check_binding(token: StreamToken, user: Any, session: dict[str, Any] | None) -> None:
    if token.auth_digest is not None:
        current = auth_digest(user)
        if current is None or not constant_time_compare(current, token.auth_digest):
            raise StreamRefused(401, f"the token's user changed password: sign in and {_new_token()}")
    if token.session_key is not None:
        if not session_holds(session, str(user.pk)):
            raise StreamRefused(
                401, f"the session the token was minted from has signed out: sign in and {_new_token()}"
            )


async def _session_user(request: HttpRequest) -> tuple[Any, StreamIdentity]:
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
    return user, StreamIdentity(str(user.pk), getattr(session, "session_key", None), auth_digest(user))
