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
  hub re-runs the registered rules, once per (user, channel), off the loop (the backstop);
- and at once when :func:`access_changed` says a user's access (or a channel's) may have
  changed: in this process directly, in the others over the channel layer's
  ``sse-access`` group (Redis). sse says it itself for the user model's saves and
  deletions (``is_staff``, ``is_active``, ``is_superuser``, password), for
  ``User.groups``, ``User.user_permissions`` and ``Group.permissions`` changes and group
  deletions; apps say it for their own memberships (:func:`follow_membership`) and rules.
  The streams concerned hold their live events until the re-check answers: an event
  published after the change never reaches a stream that lost access by it.

A check that cannot run (the database is down) ends nothing: streams end only on an
answer that says so. An ended stream's client reconnects and gets its 401, 403 or 404.
"""

from __future__ import annotations

import asyncio
import fnmatch
import inspect
import logging
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model, user_logged_out
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.utils.crypto import constant_time_compare

from sse import runtime
from sse.auth.tokens import auth_digest
from sse.channels.registry import ChannelNotFound, find_pattern
from sse.conf import conf
from sse.transport.layer import send_access_notice

if TYPE_CHECKING:
    from sse.hub.channel_hub import ChannelHub
    from sse.hub.subscriber import Subscriber

__all__ = [
    "StreamIdentity",
    "aaccess_changed",
    "access_changed",
    "auth_digest",
    "changed_since",
    "check_now",
    "connect_signals",
    "follow_membership",
    "identity_check_seconds",
    "notice_epoch",
    "on_notice",
    "recheck_forever",
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


def notice_epoch() -> int:
    """The access notices this process's hub has taken in so far: taken when a request
    authenticates, and handed to its stream with its identity (``sse.streams.authentication``),
    so a stream subscribed after another notice is re-checked once subscribed."""
    return _epoch


def changed_since(epoch: int) -> bool:
    """Whether an access notice reached this process since ``epoch`` (see :func:`notice_epoch`)."""
    return _epoch != epoch


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
    await _recheck(list(_checked(hub)), rules=rules)


async def _recheck(streams: Sequence[tuple[Subscriber, StreamIdentity]], *, rules: bool) -> None:
    """Close those of ``streams`` whose identity (or, with ``rules``, a channel's rule) no
    longer holds. Raises nothing an unanswered check can cause: the streams then stay."""
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


# -- access changes: re-checked now, in every process ---------------------------------

#: Past this many users a notice re-checks every stream (a group of thousands changed).
MAX_NOTICE_USERS = 1000
#: The channel pattern of every stream.
EVERY = "*"
_GLOB = frozenset("*?[")
# Access notices this process's hub took in (only ever on its loop).
_epoch = 0


def _notice(users: Iterable[Any], channels: Iterable[str]) -> tuple[list[str], list[str]] | None:
    pks = sorted({str(getattr(user, "pk", user)) for user in users if getattr(user, "pk", user) is not None})
    names = sorted(set(channels))
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"channels are channel names or patterns, not {name!r}")
    if len(pks) > MAX_NOTICE_USERS:
        return [], [EVERY]
    if not pks and not names:
        return None
    return pks, names


def access_changed(*users: Any, channels: Iterable[str] = (), using: str | None = None) -> None:
    """Some streams' access may have changed: re-check them now, in every process.

    ``users``: users (or their pks) whose every open stream is re-checked; ``channels``:
    channel names, or patterns with ``*`` (``"chat.room.*"``; ``"*"`` is every stream), whose
    streams are re-checked whoever reads them. A re-check is the one a stream gets every
    ``SSE_ACCESS_RECHECK_SECONDS``: its session and password, and its channels' rules (for
    streams opened by ``open_stream`` or with ``stream_response(check_rules=True)``); a
    stream that fails it ends, and its client's reconnect gets its 401, 403 or 404.

    Inside ``transaction.atomic()`` (of ``using``) the notice goes out when the transaction
    commits, and never if it rolls back. This process's streams hold their live events from
    then until the answer, so nothing published after the change reaches a stream that lost
    access by it; other processes hear it over the channel layer (Redis) before this call
    returns. With the in-memory layer, other processes find the change at their periodic
    re-check.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "access_changed() was called from async code: use 'await sse.aaccess_changed(...)'"
        )
    notice = _notice(users, channels)
    if notice is not None:
        transaction.on_commit(lambda: _announce(*notice), using=using)


async def aaccess_changed(*users: Any, channels: Iterable[str] = ()) -> None:
    """Async form of :func:`access_changed` (async code runs outside transactions: at once)."""
    notice = _notice(users, channels)
    if notice is not None:
        await sync_to_async(_announce, thread_sensitive=False)(*notice)


def _announce(users: list[str], channels: list[str]) -> None:
    hub = _hub()
    if hub is not None:
        try:
            hub.loop.call_soon_threadsafe(on_notice, hub, users, channels)
        except RuntimeError:  # its loop closed meanwhile
            pass
    send_access_notice(users, channels)


def on_notice(hub: ChannelHub, users: Sequence[str], channels: Sequence[str]) -> None:
    """An access notice reached ``hub`` (on its loop): hold and re-check the streams concerned."""
    global _epoch
    _epoch += 1
    found: set[Subscriber] = set()
    if users:
        wanted = {pk for pk in users if hub.per_user.get(pk)}
        if wanted:
            found.update(sub for sub, identity in _checked(hub) if identity.user_pk in wanted)
    for pattern in channels:
        if _GLOB.isdisjoint(pattern):
            group = hub.groups.get(pattern)
            names = [pattern] if group is not None else []
        else:
            names = [name for name in hub.groups if fnmatch.fnmatchcase(name, pattern)]
        for name in names:
            found.update(sub for sub in hub.groups[name].members if sub.identity is not None)
    check_now(hub, found)


def check_now(hub: ChannelHub, streams: Iterable[Subscriber]) -> None:
    """Hold ``streams``' live events and re-check their access now (on the hub's loop)."""
    checks = _checks.get(hub)
    if checks is None:
        checks = _checks[hub] = _Checks(hub)
    checks.add(streams)


class _Checks:
    """A hub's re-checks on notice: streams noticed while one runs are checked by the next."""

    def __init__(self, hub: ChannelHub) -> None:
        self.hub = hub
        self.pending: set[Subscriber] = set()
        self.task: asyncio.Task[None] | None = None

    def add(self, streams: Iterable[Subscriber]) -> None:
        for sub in streams:
            if not sub.closed and sub.identity is not None:
                sub.suspend()
                self.pending.add(sub)
        if self.pending and self.task is None:
            self.task = self.hub.loop.create_task(self._run())

    async def _run(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending, set()
                try:
                    await _recheck(
                        [(sub, sub.identity) for sub in batch if sub.identity is not None and not sub.closed],
                        rules=True,
                    )
                except Exception:
                    logger.exception("re-checking streams after an access change failed")
                finally:
                    for sub in batch:
                        if sub not in self.pending:  # noticed again meanwhile: the next round answers
                            sub.unsuspend()
        finally:
            self.task = None


_checks: weakref.WeakKeyDictionary[ChannelHub, _Checks] = weakref.WeakKeyDictionary()


# -- what Django tells this process at once ------------------------------------------


def watch(hub: ChannelHub) -> None:
    """Let this process's sign-outs, user changes and access notices reach ``hub``'s streams at once."""
    runtime.get().watched = weakref.ref(hub)  # the runtime's: no module state
    user_logged_out.connect(_on_logged_out, dispatch_uid="sse.auth.revocation.logged_out")
    connect_signals()


def connect_signals() -> None:
    """Connect the signals that say a user's access may have changed (``SseConfig.ready()``,
    in every process: a change made by a worker or a shell reaches the servers' streams)."""
    try:
        user_model = get_user_model()
    except (ImproperlyConfigured, LookupError):  # no django.contrib.auth: streams carry no user
        return
    post_save.connect(_on_user_saved, sender=user_model, dispatch_uid="sse.auth.revocation.user_saved")
    post_delete.connect(_on_user_deleted, sender=user_model, dispatch_uid="sse.auth.revocation.user_deleted")
    for name in ("groups", "user_permissions"):
        try:
            field = user_model._meta.get_field(name)
        except Exception:  # a custom user model without PermissionsMixin
            continue
        if field.many_to_many:
            follow_membership(field)
    try:
        from django.contrib.auth.models import Group
    except (ImportError, RuntimeError):  # django.contrib.auth not installed
        return
    groups = _users_of_groups_through()
    if groups is not None:
        m2m_changed.connect(
            _on_group_permissions,
            sender=Group.permissions.through,
            dispatch_uid="sse.auth.revocation.group_perms",
        )
        pre_delete.connect(_on_group_deleted, sender=Group, dispatch_uid="sse.auth.revocation.group_deleted")


def _users_of_groups_through() -> tuple[Any, str, str] | None:
    """The user model's groups table: (through model, its user column, its group column)."""
    try:
        field = get_user_model()._meta.get_field("groups")
    except Exception:
        return None
    if not field.many_to_many:
        return None
    return field.remote_field.through, field.m2m_field_name(), field.m2m_reverse_field_name()


def _changed(pks: Iterable[Any], using: str | None) -> None:
    """From a signal handler (sync ORM code): ``access_changed`` for these users."""
    notice = _notice(list(pks), ())
    if notice is not None:
        transaction.on_commit(lambda: _announce(*notice), using=using)


def _users_in_groups(group_pks: Iterable[Any], using: str | None) -> list[Any]:
    found = _users_of_groups_through()
    if found is None:
        return []
    through, user_column, group_column = found
    rows = through._default_manager.using(using).filter(**{f"{group_column}__in": list(group_pks)})
    return list(rows.values_list(user_column, flat=True).distinct()[: MAX_NOTICE_USERS + 1])


def _on_group_permissions(
    sender: Any,
    instance: Any,
    action: str,
    reverse: bool,
    pk_set: Any,
    using: str | None = None,
    **kwargs: Any,
) -> None:
    # Forward: group.permissions.add(...), instance is the group; reverse:
    # permission.group_set.add(groups), pk_set are groups.
    if not reverse:
        if action in ("post_add", "post_remove", "post_clear"):
            _changed(_users_in_groups([instance.pk], using), using)
    elif action in ("post_add", "post_remove"):
        _changed(_users_in_groups(pk_set or (), using), using)
    elif action == "pre_clear":
        groups = sender._default_manager.using(using).filter(permission=instance.pk)
        _changed(_users_in_groups(groups.values_list("group", flat=True), using), using)


def _on_group_deleted(sender: Any, instance: Any, using: str | None = None, **kwargs: Any) -> None:
    _changed(_users_in_groups([instance.pk], using), using)


def _on_user_deleted(sender: Any, instance: Any, using: str | None = None, **kwargs: Any) -> None:
    _changed([instance.pk], using)


def follow_membership(field: Any) -> None:
    """Re-check at once the streams of users added to, removed from or cleared out of a
    many-to-many between the user model and another model (``Room.members``, ``User.groups``).

    ``field``: the many-to-many (``Room.members`` as the class attribute, or its field).
    Connects ``m2m_changed`` for it, both ways round; each change calls
    :func:`access_changed` for the users concerned when its transaction commits.
    """
    field = getattr(field, "field", field)
    if not getattr(field, "many_to_many", False):
        raise TypeError(f"{field!r} is not a many-to-many field")
    user_model = get_user_model()
    through = field.remote_field.through
    source_column, target_column = field.m2m_field_name(), field.m2m_reverse_field_name()
    if field.related_model is user_model:
        users_on_source = False  # Room.members: the field's model holds users on its far side
    elif field.model is user_model:
        users_on_source = True  # User.groups
    else:
        raise TypeError(f"{field!r} does not join the user model ({user_model._meta.label})")
    user_column, other_column = (
        (source_column, target_column) if users_on_source else (target_column, source_column)
    )

    def changed(
        sender: Any,
        instance: Any,
        action: str,
        reverse: bool,
        pk_set: Any,
        using: str | None = None,
        **kwargs: Any,
    ) -> None:
        instance_is_user = users_on_source != reverse
        if instance_is_user:
            if action in ("post_add", "post_remove", "post_clear"):
                _changed([instance.pk], using)
        elif action in ("post_add", "post_remove"):
            _changed(pk_set or (), using)
        elif action == "pre_clear":  # who they were: after the clear nobody is left to name
            rows = through._default_manager.using(using).filter(**{other_column: instance.pk})
            _changed(rows.values_list(user_column, flat=True)[: MAX_NOTICE_USERS + 1], using)

    m2m_changed.connect(
        changed,
        sender=through,
        weak=False,
        dispatch_uid=f"sse.auth.revocation.follow.{through._meta.label_lower}",
    )


def _hub() -> ChannelHub | None:
    watched = runtime.get().watched
    hub: ChannelHub | None = watched() if watched is not None else None
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


def _on_user_saved(
    sender: Any,
    instance: Any,
    created: bool = False,
    update_fields: Any = None,
    using: str | None = None,
    **kwargs: Any,
) -> None:
    if created or instance.pk is None:
        return  # a new user has no stream
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # every sign-in saves this
    # Staff, superuser and active flags, the password: its streams' rules and identity,
    # re-checked when the save commits, in every process.
    _changed([instance.pk], using)
    hub = _hub()
    if hub is None:
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
