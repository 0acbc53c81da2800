"""Access follows the user: the checks that end an open stream when its access no longer holds.

A stream (its :class:`~sse.auth.identity.StreamIdentity`) ends:

- when its session signs out, or its user's password changes or the user is deactivated:
  at once in this process (sse.auth.user_signals calls :func:`end_matching`), and,
  whatever process the change came from, at the next identity check: every
  ``min(SSE_ACCESS_RECHECK_SECONDS, 5)`` seconds the hub reads, in a few batched queries
  off the loop, whether each stream's session and user still hold;
- when its user no longer passes a channel's rule: every ``SSE_ACCESS_RECHECK_SECONDS``
  the hub re-runs the registered rules, once per (user, channel), off the loop (the backstop);
- at once when ``sse.access_changed`` (sse.auth.access_changes) says a user's access, or a
  channel's, may have changed: :func:`on_notice`, in every process. The streams concerned
  hold their live events until the re-check answers: an event published after the change
  never reaches a stream that lost access by it.

A check that cannot run (the database is down) ends nothing: streams end only on an
answer that says so. An ended stream's client reconnects and gets its 401, 403 or 404.
The checks see a hub and its streams through :class:`WatchedHub` and :class:`CheckedStream`.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
import weakref
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from asgiref.sync import sync_to_async

from sse import runtime
from sse.auth.identity import StreamIdentity, identity_holds, note_access_notice, read_identities
from sse.auth.rule_answers import rule_answers
from sse.auth.state import AuthState
from sse.conf import conf

__all__ = [
    "CheckedStream",
    "WatchedHub",
    "check_now",
    "end_matching",
    "identity_check_seconds",
    "on_notice",
    "recheck_forever",
    "recheck_once",
    "watch_hub",
    "watched_hub",
]

logger = logging.getLogger("sse.hub")

#: Sign-outs and password changes in other processes are found within this (seconds).
IDENTITY_CHECK_MAX_SECONDS = 5.0
_REVOKED = "revoked"
_GLOB = frozenset("*?[")


class CheckedStream(Protocol):
    """What the checks use of an open stream (``sse.hub.subscriber.Subscriber``)."""

    @property
    def identity(self) -> StreamIdentity | None: ...
    @property
    def channels(self) -> tuple[str, ...]: ...
    @property
    def check_rules(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
    def close(self, reason: str) -> None: ...
    def suspend(self) -> None: ...
    def unsuspend(self) -> None: ...


class _Group(Protocol):
    @property
    def members(self) -> Iterable[CheckedStream]: ...


class WatchedHub(Protocol):
    """What the checks use of a hub (``sse.hub.channel_hub.ChannelHub``): its loop, its open
    streams, how many each user has, and each channel's."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...
    @property
    def subscribers(self) -> Collection[CheckedStream]: ...
    @property
    def per_user(self) -> Mapping[str, int]: ...
    @property
    def groups(self) -> Mapping[str, _Group]: ...


# -- the hub's re-check loop ---------------------------------------------------------


def identity_check_seconds() -> float:
    return min(conf.SSE_ACCESS_RECHECK_SECONDS, IDENTITY_CHECK_MAX_SECONDS)


def _checked(hub: WatchedHub) -> Iterator[tuple[CheckedStream, StreamIdentity]]:
    for sub in list(hub.subscribers):
        identity = sub.identity
        if identity is not None and not sub.closed:
            yield sub, identity


async def recheck_once(hub: WatchedHub, *, rules: bool) -> None:
    """Check every stream's identity (and, with ``rules``, its channels' rules) once."""
    await _recheck(list(_checked(hub)), rules=rules)


async def _recheck(streams: Sequence[tuple[CheckedStream, StreamIdentity]], *, rules: bool) -> None:
    """Close those of ``streams`` whose identity (or, with ``rules``, a channel's rule) no
    longer holds. Raises nothing an unanswered check can cause: the streams then stay."""
    if not streams:
        return
    keys = sorted({i.session_key for _, i in streams if i.session_key is not None})
    pks = sorted({i.user_pk for _, i in streams})
    try:
        sessions, users = await sync_to_async(read_identities, thread_sensitive=False)(keys, pks)
    except Exception as exc:
        # The database is unwell: no answer, so nothing ends.
        logger.warning("re-checking open streams' sessions failed: %s", exc)
        return
    survivors = []
    for sub, identity in streams:
        if identity_holds(identity, sessions, users):
            survivors.append((sub, identity))
        else:
            sub.close(_REVOKED)
    if not rules:
        return
    wanted = {(i.user_pk, name) for sub, i in survivors if sub.check_rules for name in sub.channels}
    answers = await rule_answers(sorted(wanted), users)
    for sub, identity in survivors:
        if sub.check_rules and any(answers.get((identity.user_pk, n)) is False for n in sub.channels):
            sub.close(_REVOKED)


async def recheck_forever(hub: WatchedHub) -> None:
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


# -- access notices: the streams concerned, held and re-checked now ------------------


def on_notice(hub: WatchedHub, users: Sequence[str], channels: Sequence[str]) -> None:
    """An access notice reached ``hub`` (on its loop): hold and re-check the streams concerned."""
    note_access_notice()
    found: set[CheckedStream] = set()
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


def check_now(hub: WatchedHub, streams: Iterable[CheckedStream]) -> None:
    """Hold ``streams``' live events and re-check their access now (on the hub's loop)."""
    pending = runtime.get().part(AuthState).hub_checks  # per hub, the runtime's: no module state
    checks = pending.get(hub)
    if checks is None:
        checks = pending[hub] = _Checks(hub)
    checks.add(streams)


class _Checks:
    """A hub's re-checks on notice: streams noticed while one runs are checked by the next."""

    def __init__(self, hub: WatchedHub) -> None:
        self.hub = hub
        self.pending: set[CheckedStream] = set()
        self.task: asyncio.Task[None] | None = None

    def add(self, streams: Iterable[CheckedStream]) -> None:
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


# -- what Django tells this process at once ------------------------------------------


def watch_hub(hub: WatchedHub) -> None:
    """Let this process's sign-outs, user changes and access notices reach ``hub``'s streams."""
    runtime.get().part(AuthState).watched = weakref.ref(hub)  # the runtime's: no module state


def watched_hub() -> WatchedHub | None:
    watched = runtime.get().part(AuthState).watched
    hub: WatchedHub | None = watched() if watched is not None else None
    if hub is None or hub.loop.is_closed():
        return None
    return hub


def end_matching(
    hub: WatchedHub, user_pk: str | None, session_key: str | None, digest: str | None, active: bool
) -> None:
    """End (on the hub's loop) the streams of a signed-out session, or those of a user
    deactivated or whose password (``digest``) changed."""
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
