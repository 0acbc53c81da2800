"""Streams opened with the credentials of the site's own API: its DRF authentication classes.

A request for a stream that brings an ``Authorization`` header other than a stream token
(a simplejwt access token as ``Bearer``, DRF's ``Token <key>``) is authenticated by the
classes ``SSE_AUTHENTICATION_CLASSES`` names (by default the project's
``REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]``), in their order, as a DRF view would:
all of them in one call to a thread, the request wrapped in DRF's ``Request``. Session
cookies and stream tokens never come here (sse.streams.access reads them itself, batched), nor
does a request without an ``Authorization`` header.

Django REST framework is imported only when such a request comes: ``sse.urls`` works
without it.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.utils.module_loading import import_string

from sse.conf import conf

__all__ = [
    "APIUser",
    "AuthenticationRefused",
    "authenticate",
    "credential_expiry",
    "stream_classes",
]


@dataclass(frozen=True, slots=True)
class APIUser:
    """Who DRF authenticated: the user, the session when session auth it was, and when the
    credential expires (seconds since the epoch; None: it does not say)."""

    user: Any
    session_key: str | None
    expires_at: float | None


class AuthenticationRefused(Exception):
    """An authentication class refused the credential (AuthenticationFailed and the like)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def stream_classes() -> tuple[type, ...]:
    """The classes ``SSE_AUTHENTICATION_CLASSES`` names; unset, DRF's defaults (if installed)."""
    configured = conf.SSE_AUTHENTICATION_CLASSES
    if configured is None:
        try:
            from rest_framework.settings import api_settings
        except ImportError:
            return ()
        # Classes already (api_settings imports them), whatever its stubs say.
        defaults: Sequence[Any] = api_settings.DEFAULT_AUTHENTICATION_CLASSES
        return tuple(defaults)
    return tuple(import_string(c) if isinstance(c, str) else c for c in configured)


def beyond_session(classes: Sequence[type]) -> bool:
    """Whether any of ``classes`` reads something other than the session (which sse reads itself)."""
    if not classes:
        return False
    from rest_framework.authentication import SessionAuthentication

    return any(not issubclass(cls, SessionAuthentication) for cls in classes)


def authenticate(request: HttpRequest, classes: Sequence[type]) -> APIUser | None:
    """Sync: the user ``classes`` authenticate ``request`` as, or None when none of them does.

    Raises :class:`AuthenticationRefused` when one refuses (DRF's ``AuthenticationFailed``:
    an expired or invalid JWT, an unknown token key, an inactive user).
    """
    from rest_framework.authentication import SessionAuthentication
    from rest_framework.exceptions import APIException, AuthenticationFailed, NotAuthenticated
    from rest_framework.request import Request

    wrapped = Request(request, authenticators=[cls() for cls in classes])
    try:
        user = wrapped.user
    except (AuthenticationFailed, NotAuthenticated) as exc:
        raise AuthenticationRefused(401, message(exc.detail)) from None
    except APIException as exc:
        if not 400 <= exc.status_code < 500:
            raise
        raise AuthenticationRefused(exc.status_code, message(exc.detail)) from None
    authenticator = wrapped.successful_authenticator
    if authenticator is None or user is None or not user.is_authenticated:
        return None
    session_key = None
    if isinstance(authenticator, SessionAuthentication):
        session_key = getattr(getattr(request, "session", None), "session_key", None)
    return APIUser(user, session_key, credential_expiry(wrapped.auth))


def message(detail: Any) -> str:
    """DRF's error detail as one line of text: simplejwt's ``{"detail", "messages": [...]}`` too."""
    if isinstance(detail, Mapping):
        text = message(detail["detail"]) if "detail" in detail else ""
        reasons = [message(m.get("message")) for m in detail.get("messages") or () if isinstance(m, Mapping)]
        reasons = [r for r in dict.fromkeys(reasons) if r and r != text]
        if reasons:
            text = f"{text}: {'; '.join(reasons)}" if text else "; ".join(reasons)
        return text or "; ".join(f"{k}: {message(v)}" for k, v in detail.items())
    if isinstance(detail, list | tuple):
        return "; ".join(message(d) for d in detail)
    return "" if detail is None else str(detail)


def credential_expiry(auth: Any) -> float | None:
    """When the credential DRF put in ``request.auth`` expires, in seconds since the epoch.

    An ``exp`` claim (a simplejwt token's ``payload``, or any mapping), or an ``expires_at``
    or ``expiry`` datetime (django-rest-knox's ``AuthToken.expiry``); None for the others
    (DRF's ``Token``, a session).
    """
    if auth is None:
        return None
    payload = getattr(auth, "payload", None)
    claims = payload if isinstance(payload, Mapping) else auth if isinstance(auth, Mapping) else None
    if claims is not None:
        exp = claims.get("exp")
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            return float(exp)
    for name in ("expires_at", "expiry"):
        value = getattr(auth, name, None)
        if isinstance(value, datetime.datetime):
            # A naive one is in the process's time zone (Django sets it to TIME_ZONE).
            return value.timestamp()
    return None
