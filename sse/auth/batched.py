"""The session and user look-ups of streams being opened, made in batches.

Opening a stream with Django's own ``request.auser()`` costs two ORM queries
(the session row, then the user), each a hop to the thread all streams share.
When many clients open streams at once (a reconnect storm after a restart),
those queries queue on that one thread. Here, streams opening at the same time
share them: one batch is in flight at a time, and the look-ups that arrive
meanwhile go out together in the next one (one query for their sessions, one
for their users, one thread hop), so a storm costs a few queries per batch
instead of two per stream, and a lone stream waits for nothing.

Only what Django would accept as it stands is decided here: database-backed
sessions (``SESSION_ENGINE = "django.contrib.sessions.backends.db"``), a
``ModelBackend`` (or a subclass keeping its ``get_user``), a user who may
authenticate and a session hash that matches the user's current one. Anything
else (no session, an expired one, another backend, a hash that only a
``SECRET_KEY_FALLBACKS`` key verifies, a middleware that replaced
``request.auser``) goes through ``request.auser()`` unchanged, which flushes or
rotates the session where Django does. The session data read here is handed
to ``request.session``, so Django's path reads no row twice.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare

from sse import runtime
from sse.auth.state import AuthState

__all__ = ["Lookup", "batched_session_user", "look_up"]

_DB_SESSIONS = "django.contrib.sessions.backends.db"
_BATCH = 500


@dataclass(slots=True)
class Lookup:
    """What one batch found: session data by key, users by ``str(pk)``."""

    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, Any] = field(default_factory=dict)


def _user_pk(value: Any) -> str | None:
    try:
        return str(get_user_model()._meta.pk.to_python(value))
    except (ValidationError, TypeError, ValueError):
        return None


def _read(session_keys: Sequence[str], user_pks: Sequence[str]) -> Lookup:
    """Sync: the live sessions among ``session_keys``, and the users they (and ``user_pks``) name."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    found = Lookup()
    decoder = SessionStore()
    now = timezone.now()
    for start in range(0, len(session_keys), _BATCH):
        rows = SessionStore.get_model_class().objects.filter(
            session_key__in=session_keys[start : start + _BATCH], expire_date__gt=now
        )
        for key, encoded in rows.values_list("session_key", "session_data"):
            found.sessions[key] = decoder.decode(encoded)
    pks = set(user_pks)
    for data in found.sessions.values():
        pk = _user_pk(data.get(SESSION_KEY))
        if pk is not None:
            pks.add(pk)
    manager = get_user_model()._default_manager
    ordered = sorted(pks)
    for start in range(0, len(ordered), _BATCH):
        for user in manager.filter(pk__in=ordered[start : start + _BATCH]):
            found.users[str(user.pk)] = user
    return found


class _Batcher:
    """One batch in flight at a time; look-ups arriving meanwhile make the next one."""

    def __init__(self) -> None:
        self.waiting: list[tuple[str | None, str | None, asyncio.Future[Lookup]]] = []
        self.running = False

    async def look_up(self, session_key: str | None, user_pk: str | None) -> Lookup:
        future: asyncio.Future[Lookup] = asyncio.get_running_loop().create_future()
        self.waiting.append((session_key, user_pk, future))
        if not self.running:
            self.running = True
            # The task inherits this request's context: its sync call runs on the same thread.
            asyncio.get_running_loop().create_task(self._run())
        return await future

    async def _run(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting, []
                keys = sorted({key for key, _, _ in batch if key})
                pks = sorted({pk for _, pk, _ in batch if pk})
                try:
                    found = await sync_to_async(_read)(keys, pks)
                except BaseException as exc:
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for _, _, future in batch:
                    if not future.done():
                        future.set_result(found)
        finally:
            self.running = False


async def look_up(session_key: str | None = None, user_pk: str | None = None) -> Lookup:
    """The session ``session_key`` (db-backed) and the user ``user_pk``, batched with others."""
    loop = asyncio.get_running_loop()
    batchers = runtime.get().part(AuthState).batchers  # one per loop, held by the runtime
    batcher = batchers.get(loop)
    if not isinstance(batcher, _Batcher):
        for old in [old for old in batchers if old.is_closed()]:
            del batchers[old]
        batcher = _Batcher()
        batchers[loop] = batcher
    return await batcher.look_up(session_key, user_pk)


def _keeps_model_backend_get_user(backend_path: str) -> bool:
    # Asked once per backend path and process (the answer is the runtime's).
    known = runtime.get().part(AuthState).model_backends
    answer = known.get(backend_path)
    if answer is None:
        from django.contrib.auth.backends import ModelBackend

        backend = _backend(backend_path)
        cls = type(backend)
        answer = known[backend_path] = (
            isinstance(backend, ModelBackend)
            and cls.get_user is ModelBackend.get_user
            and (cls.aget_user is ModelBackend.aget_user)
        )
    return answer


def _backend(backend_path: str) -> Any:
    from django.contrib.auth import load_backend

    return load_backend(backend_path)


def _djangos_auser(request: HttpRequest) -> bool:
    from django.contrib.auth import middleware as auth_middleware

    auser = getattr(request, "auser", None)
    return isinstance(auser, functools.partial) and auser.func is auth_middleware.auser


def _unread_session(request: HttpRequest) -> Any | None:
    """``request``'s session when this module may read it as Django would (nothing read yet)."""
    session = getattr(request, "session", None)
    if (
        session is None
        or settings.SESSION_ENGINE != _DB_SESSIONS
        or not _djangos_auser(request)
        or hasattr(request, "_acached_user")
        or hasattr(session, "_session_cache")
    ):
        return None
    return session


async def batched_session_user(request: HttpRequest) -> Any | None:
    """The signed-in user of ``request`` when this module can tell it as Django would, else None.

    None means "ask ``request.auser()``": it is never a refusal.
    """
    session = _unread_session(request)
    key = session.session_key if session is not None else None
    if session is None or not key:
        return None
    found = await look_up(session_key=key)
    data = found.sessions.get(key)
    if data is None or hasattr(session, "_session_cache"):
        return None
    # What Django's lazy load would have read: later reads of this request's session use it.
    session._session_cache = data
    session.accessed = True
    backend_path = data.get(BACKEND_SESSION_KEY)
    pk = _user_pk(data.get(SESSION_KEY))
    if (
        pk is None
        or not isinstance(backend_path, str)
        or backend_path not in settings.AUTHENTICATION_BACKENDS
    ):
        return None
    if not _keeps_model_backend_get_user(backend_path):
        return None
    user = found.users.get(pk)
    if user is None or not _backend(backend_path).user_can_authenticate(user):
        return None
    session_hash = data.get(HASH_SESSION_KEY)
    if not session_hash or not constant_time_compare(session_hash, user.get_session_auth_hash()):
        return None
    request._acached_user = user  # type: ignore[attr-defined]
    request._cached_user = user  # type: ignore[attr-defined]
    return user
