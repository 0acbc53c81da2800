"""Whom a stream serves (:class:`StreamIdentity`), handed from the auth step to the stream
step, and whether it still holds: its session and user, read in batches.

A stream's identity is its user, the session it was opened from (a session cookie, or
the session a token was minted from) and a digest of the user's session auth hash then
(Django's hash of the password). It holds while the session exists and still names the
user, and the user is active with the same password (sse.auth.revocation checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.db import connections
from django.utils.crypto import constant_time_compare

from sse import runtime
from sse.auth.state import AuthState
from sse.auth.tokens import auth_digest

__all__ = [
    "StreamIdentity",
    "changed_since",
    "identity_holds",
    "load_session",
    "note_access_notice",
    "notice_epoch",
    "read_identities",
    "session_holds",
]

_BATCH = 500


@dataclass(frozen=True, slots=True)
class StreamIdentity:
    """Whom a stream serves: ``str(user.pk)``, the session it stands on (or None: none
    known, e.g. a token minted without one), and the user's auth hash digest then.

    ``expires_at``: when the credential the stream opened with expires (seconds since the
    epoch; a JWT's ``exp``): the stream ends then, and its client comes back with a new one.
    """

    user_pk: str
    session_key: str | None
    auth_digest: str | None
    expires_at: float | None = None


def note_access_notice() -> None:
    """An access notice reached this process's hub (on its loop): streams subscribing from
    requests authenticated before it are re-checked once subscribed."""
    runtime.get().part(AuthState).access_notices += 1


def notice_epoch() -> int:
    """The access notices this process's hub has taken in so far: taken when a request
    authenticates, and handed to its stream with its identity (``sse.streams.authentication``),
    so a stream subscribed after another notice is re-checked once subscribed."""
    return runtime.get().part(AuthState).access_notices


def changed_since(epoch: int) -> bool:
    """Whether an access notice reached this process since ``epoch`` (see :func:`notice_epoch`)."""
    return runtime.get().part(AuthState).access_notices != epoch


# -- sessions and users, read in batches (sync: run in a worker thread) -------------


def _session_store() -> Any:
    return import_module(settings.SESSION_ENGINE).SessionStore


def _live_sessions(keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The data of each session in ``keys`` that still exists (missing keys: signed out)."""
    store_cls = _session_store()
    found: dict[str, dict[str, Any]] = {}
    get_model = getattr(store_cls, "get_model_class", None)
    if get_model is not None:
        # Database-backed sessions (db, cached_db): one query per 500 keys.
        from django.utils import timezone

        model = get_model()
        decoder = store_cls()
        now = timezone.now()
        for start in range(0, len(keys), _BATCH):
            rows = model.objects.filter(session_key__in=keys[start : start + _BATCH], expire_date__gt=now)
            for key, data in rows.values_list("session_key", "session_data"):
                found[key] = decoder.decode(data)
        return found
    for key in keys:
        data = store_cls(key).load()
        if data:
            found[key] = data
    return found


def session_holds(data: dict[str, Any] | None, user_pk: str) -> bool:
    """Whether session ``data`` is still signed in as ``user_pk``."""
    if not data:
        return False
    return str(data.get(SESSION_KEY)) == user_pk and HASH_SESSION_KEY in data


def load_session(key: str) -> dict[str, Any] | None:
    """One session's data (sync), or None when it no longer exists."""
    try:
        return _live_sessions([key]).get(key)
    finally:
        connections.close_all()


def _users(pks: Sequence[str]) -> dict[str, Any]:
    manager = get_user_model()._default_manager
    users: dict[str, Any] = {}
    for start in range(0, len(pks), _BATCH):
        for user in manager.filter(pk__in=pks[start : start + _BATCH]):
            users[str(user.pk)] = user
    return users


def read_identities(
    keys: Sequence[str], pks: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    try:
        return _live_sessions(keys), _users(pks)
    finally:
        connections.close_all()


def identity_holds(
    identity: StreamIdentity, sessions: dict[str, dict[str, Any]], users: dict[str, Any]
) -> bool:
    user = users.get(identity.user_pk)
    if user is None or not getattr(user, "is_active", True):
        return False
    if identity.auth_digest is not None:
        current = auth_digest(user)
        if current is None or not constant_time_compare(current, identity.auth_digest):
            return False
    if identity.session_key is not None:
        return session_holds(sessions.get(identity.session_key), identity.user_pk)
    return True
