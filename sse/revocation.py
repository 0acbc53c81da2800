"""Access follows the user: whose session and password an open stream stands on, and the
checks that end it when they no longer hold.

Each stream carries a :class:`StreamIdentity`: its user, the session it was opened from
(a session cookie, or the session a token was minted from) and a digest of the user's
session auth hash then (Django's hash of the password). A stream ends when:

- its session signs out (``user_logged_out``: at once in this process),
- its user's password changes or the user is deactivated (``post_save`` of the user: at
  once in this process),
- and, whatever process the change came from, at the next identity check: every
  ``min(SSE_ACCESS_RECHECK_SECONDS, 5)`` seconds the hub reads, in a few batched
  queries off the loop, whether each stream's session still exists and still names its
  user, and whether the user is active with the same password;
- its user no longer passes a channel's rule: every ``SSE_ACCESS_RECHECK_SECONDS`` the
  hub re-runs the registered rules, once per (user, channel), off the loop.

A check that cannot run (the database is down) ends nothing: streams end only on an
answer that says so. An ended stream's client reconnects and gets its 401, 403 or 404.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model, user_logged_out
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.models.signals import post_save
from django.utils.crypto import constant_time_compare

from sse.conf import conf
from sse.registry import ChannelNotFound, find_pattern
from sse.tokens import auth_digest

if TYPE_CHECKING:
    from sse.hub import ChannelHub
    from sse.subscriber import Subscriber

__all__ = [
    "StreamIdentity",
    "auth_digest",
    "identity_check_seconds",
    "recall",
    "recheck_forever",
    "remember",
    "session_holds",
    "watch",
]

logger = logging.getLogger("sse.hub")

#: Sign-outs and password changes in other processes are found within this (seconds).
IDENTITY_CHECK_MAX_SECONDS = 5.0
_BATCH = 500
_REVOKED = "revoked"


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


# Set by sse.access.authenticate_stream in the request's task, read when the same view
# builds its stream: apps calling stream_response() pass nothing new.
_identity: ContextVar[StreamIdentity | None] = ContextVar("sse_stream_identity", default=None)


def remember(identity: StreamIdentity) -> None:
    _identity.set(identity)


def recall(user_key: str | None) -> StreamIdentity | None:
    """The identity this request authenticated for ``user_key``, if any."""
    identity = _identity.get()
    if identity is None or user_key is None or identity.user_pk != user_key:
        return None
    return identity


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


def _read_identities(
    keys: Sequence[str], pks: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    try:
        return _live_sessions(keys), _users(pks)
    finally:
        connections.close_all()


def _identity_holds(
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


# -- channel rules, re-run once per (user, channel) ----------------------------------


def _run_sync_rules(pairs: Sequence[tuple[Any, str, Any, dict[str, str]]]) -> dict[tuple[str, str], bool]:
    """Sync rules, all in one worker thread; a rule that fails gives no answer."""
    answers: dict[tuple[str, str], bool] = {}
    try:
        for user, name, rule, params in pairs:
            try:
                result = rule(user, **params)
                if inspect.isawaitable(result):
                    result = async_to_sync(_await)(result)
                answers[(str(user.pk), name)] = bool(result)
            except ChannelNotFound:
                answers[(str(user.pk), name)] = False
            except Exception as exc:
                logger.warning("re-checking access to %s failed: %s", name, exc)
    finally:
        connections.close_all()
    return answers


async def _await(result: Any) -> Any:
    return await result


async def _rule_answers(
    wanted: Iterable[tuple[str, str]], users: dict[str, Any]
) -> dict[tuple[str, str], bool]:
    sync_pairs = []
    answers: dict[tuple[str, str], bool] = {}
    for user_pk, name in wanted:
        user = users.get(user_pk)
        found = find_pattern(name)
        if user is None or found is None:
            answers[(user_pk, name)] = False
            continue
        pattern, params = found
        if not inspect.iscoroutinefunction(pattern.rule):
            sync_pairs.append((user, name, pattern.rule, params))
            continue
        try:
            answers[(user_pk, name)] = bool(await pattern.rule(user, **params))
        except ChannelNotFound:
            answers[(user_pk, name)] = False
        except Exception as exc:
            logger.warning("re-checking access to %s failed: %s", name, exc)
    if sync_pairs:
        answers.update(await sync_to_async(_run_sync_rules, thread_sensitive=False)(sync_pairs))
    return answers


# -- the hub's re-check loop ---------------------------------------------------------


def identity_check_seconds() -> float:
    return min(conf.SSE_ACCESS_RECHECK_SECONDS, IDENTITY_CHECK_MAX_SECONDS)


def _checked(hub: ChannelHub) -> Iterator[tuple[Subscriber, StreamIdentity]]:
    for sub in list(hub.subscribers):
        identity = sub.identity
        if identity is not None and not sub.closed:
            yield sub, identity


async def recheck_once(hub: ChannelHub, *, rules: bool) -> None:
    """Check every stream's identity (and, with ``rules``, its channels' rules) once."""
    streams = list(_checked(hub))
    if not streams:
        return
    keys = sorted({i.session_key for _, i in streams if i.session_key is not None})
    pks = sorted({i.user_pk for _, i in streams})
    try:
        sessions, users = await sync_to_async(_read_identities, thread_sensitive=False)(keys, pks)
    except Exception as exc:
        # The database is unwell: no answer, so nothing ends.
        logger.warning("re-checking open streams' sessions failed: %s", exc)
        return
    survivors = []
    for sub, identity in streams:
        if _identity_holds(identity, sessions, users):
            survivors.append((sub, identity))
        else:
            sub.close(_REVOKED)
    if not rules:
        return
    wanted = {(i.user_pk, name) for sub, i in survivors if sub.check_rules for name in sub.channels}
    answers = await _rule_answers(sorted(wanted), users)
    for sub, identity in survivors:
        if sub.check_rules and any(answers.get((identity.user_pk, n)) is False for n in sub.channels):
            sub.close(_REVOKED)


async def recheck_forever(hub: ChannelHub) -> None:
    last_rules = time.monotonic()
    while True:
        await asyncio.sleep(identity_check_seconds())
        now = time.monotonic()
        rules = now - last_rules >= conf.SSE_ACCESS_RECHECK_SECONDS
        if rules:
            last_rules = now
        try:
            await recheck_once(hub, rules=rules)
        except Exception:
            logger.exception("re-checking open streams failed")


# -- what Django tells this process at once ------------------------------------------

_watched: weakref.ref[ChannelHub] | None = None


def watch(hub: ChannelHub) -> None:
    """Let this process's sign-outs and user changes reach ``hub``'s streams at once."""
    global _watched
    _watched = weakref.ref(hub)
    user_logged_out.connect(_on_logged_out, dispatch_uid="sse.revocation.logged_out")
    try:
        user_model = get_user_model()
    except (ImproperlyConfigured, LookupError):  # no django.contrib.auth: streams carry no user
        return
    post_save.connect(_on_user_saved, sender=user_model, dispatch_uid="sse.revocation.user_saved")


def _hub() -> ChannelHub | None:
    hub = _watched() if _watched is not None else None
    if hub is None or hub.loop.is_closed():
        return None
    return hub


def _on_logged_out(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    hub = _hub()
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if hub is None or key is None or not hub.subscribers:
        return
    hub.loop.call_soon_threadsafe(_end_matching, hub, None, key, None, True)


def _on_user_saved(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # every sign-in saves this
    hub = _hub()
    if hub is None or instance.pk is None:
        return
    active = bool(getattr(instance, "is_active", True))
    hub.loop.call_soon_threadsafe(_end_matching, hub, str(instance.pk), None, auth_digest(instance), active)


def _end_matching(
    hub: ChannelHub, user_pk: str | None, session_key: str | None, digest: str | None, active: bool
) -> None:
    if user_pk is not None and not hub.per_user.get(user_pk):
        return
    for sub, identity in _checked(hub):
        if session_key is not None:
            if identity.session_key == session_key:
                sub.close(_REVOKED)
        elif identity.user_pk == user_pk and (
            not active or (identity.auth_digest is not None and identity.auth_digest != digest)
        ):
            sub.close(_REVOKED)
