"""Who is in a room right now: the users with an open stream on its channel.

Any stream counts, whatever URL opened it (``/chat/<slug>/stream/`` or the page
stream ``/sse/stream/?channel=chat.room.<slug>&...``): the ``sse.signals`` tell
this module when a stream that includes ``chat.room.<slug>`` opens or closes.

Each server process counts its own open streams per (room, user) in memory and
mirrors the non-zero ones into :class:`~chat.models.Presence` rows tagged with
its process id, so every process (and the page view) sees the same list through
the shared database. A join or leave (a count going 0 -> 1 or 1 -> 0) marks the
room; one task of the process then rewrites its rows of the marked rooms and
publishes ``presence`` {users} to each room whose rows it changed, on the room's
ephemeral channel ``chat.presence.<slug>`` (the log keeps only its latest event:
presence is state, not history, and never takes a place in the room's messages).

Announcing is coalesced: the task syncs at most once per
``CHAT_PRESENCE_MIN_INTERVAL_SECONDS`` (1 s), so a process sends at most one
``presence`` per room per interval however fast streams open and close, and the
sync after the last change always goes out: a burst that ends with a user gone
ends with a list without them. A room whose rows end up as they were (a stream
opened and closed within one interval) is not announced again.

Every ``CHAT_PRESENCE_HEARTBEAT_SECONDS`` the task refreshes ``seen`` on its
rows and deletes rows nobody refreshed for ``CHAT_PRESENCE_TTL_SECONDS``: a
process that died without closing its streams drops out of the list after at
most TTL + one heartbeat (30 + 10 = 40 s by default), and its rooms get a new
``presence`` event. A clean close (the browser leaves the page) is announced
as soon as the server notices the disconnect, or at the end of the interval.

Database work runs on one thread of this module, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import socket
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.contrib.auth import get_user_model
from django.db import connections, transaction
from django.utils import timezone

import sse
from chat.conf import conf
from chat.models import Presence, Room

__all__ = ["PresenceTracker", "present_users", "room_slugs"]

logger = logging.getLogger("chat.presence")

CHANNEL_PREFIX = "chat.room."
PRESENCE_PREFIX = "chat.presence."


def room_slugs(channels: Iterable[str]) -> list[str]:
    return [name[len(CHANNEL_PREFIX) :] for name in channels if name.startswith(CHANNEL_PREFIX)]


def present_users(room: Room | str, now: datetime | None = None) -> list[str]:
    """Usernames with a live presence row in ``room`` (a Room or a slug), sorted."""
    since = (now or timezone.now()) - timedelta(seconds=conf.PRESENCE_TTL_SECONDS)
    rows = Presence.objects.filter(seen__gte=since)
    rows = rows.filter(room=room) if isinstance(room, Room) else rows.filter(room__slug=room)
    User = get_user_model()
    field = User.USERNAME_FIELD
    users = User._default_manager.filter(pk__in=rows.values("user_id"))
    return list(users.order_by(field).values_list(field, flat=True))


class PresenceTracker:
    """This process's open room streams, mirrored into Presence rows by one task."""

    _tracker: ClassVar[PresenceTracker | None] = None
    _tracker_lock = threading.Lock()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # Unique per process start: a restarted process never refreshes a dead one's rows.
        self.process = f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"
        self.counts: dict[str, Counter[str]] = {}
        self.dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-presence")
        self._task = loop.create_task(self._run())

    @classmethod
    def current(cls) -> PresenceTracker:
        """The tracker of the running event loop (the server's), started on first use."""
        loop = asyncio.get_running_loop()
        with cls._tracker_lock:
            tracker = cls._tracker
            if tracker is None or tracker.loop is not loop:
                if tracker is not None:
                    tracker.stop()
                tracker = cls._tracker = cls(loop)
        return tracker

    def stop(self) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._task.cancel)
        self._executor.shutdown(wait=False)

    # -- called on the loop by the stream signals ----------------------------

    def opened(self, slugs: Sequence[str], user_key: str) -> None:
        for slug in slugs:
            counts = self.counts.setdefault(slug, Counter())
            counts[user_key] += 1
            if counts[user_key] == 1:
                self._changed(slug)

    def closed(self, slugs: Sequence[str], user_key: str) -> None:
        for slug in slugs:
            counts = self.counts.get(slug)
            if not counts or counts[user_key] <= 0:
                continue
            counts[user_key] -= 1
            if counts[user_key] <= 0:
                del counts[user_key]
                if not counts:
                    del self.counts[slug]
                self._changed(slug)

    def _changed(self, slug: str) -> None:
        self.dirty.add(slug)
        self._wake.set()

    # -- the task that writes rows and announces ------------------------------

    async def _run(self) -> None:
        loop = self.loop
        beat_due = loop.time()  # sweep at once: a restart cleans up after a crash
        sync_after = loop.time()  # no sync before this: one per interval at most
        while True:
            now = loop.time()
            due = max(sync_after, min(beat_due, now if self.dirty else beat_due))
            if due > now:
                # Woken by a change: look again (it may make the sync due sooner).
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), due - now)
                continue
            beat = now >= beat_due
            if beat:
                beat_due = now + conf.PRESENCE_HEARTBEAT_SECONDS
            sync_after = now + conf.PRESENCE_MIN_INTERVAL_SECONDS
            dirty, self.dirty = self.dirty, set()
            local = {slug: sorted(counts) for slug, counts in self.counts.items()}
            try:
                await loop.run_in_executor(
                    self._executor,
                    functools.partial(_db_call, sync_presence, self.process, dirty, local, beat),
                )
            except Exception as exc:
                # Database away: try again soon; rows expire on their own meanwhile.
                logger.warning("updating chat presence failed: %s", exc)
                self.dirty |= dirty
                await asyncio.sleep(1.0)


def _db_call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:
        # A broken connection must not stick to the presence thread.
        connections.close_all()
        raise


def sync_presence(
    process: str, dirty: set[str], local: dict[str, list[str]], beat: bool
) -> dict[str, list[str]]:
    """Make ``process``'s rows match ``local`` for the ``dirty`` rooms (all on a beat)
    and publish ``presence`` for every room whose rows changed; return what was published."""
    now = timezone.now()
    announce: set[str] = set()
    with transaction.atomic():
        rooms = dict(
            # Locked (where the database can): two processes never compute a room's list
            # from each other's half-done changes.
            Room.objects.select_for_update()
            .filter(slug__in=sorted(dirty | set(local)))
            .order_by("pk")
            .values_list("slug", "pk")
        )
        if beat:
            expected = sum(len(users) for users in local.values())
            refreshed = Presence.objects.filter(process=process).update(seen=now)
            if refreshed != expected:
                # Rows swept while this process stalled, or rows of rooms it left: redo all.
                dirty = dirty | set(local)
                gone = Presence.objects.filter(process=process).exclude(room__slug__in=list(local))
                announce |= set(gone.values_list("room__slug", flat=True))
                gone.delete()
            stale = Presence.objects.filter(seen__lt=now - timedelta(seconds=conf.PRESENCE_TTL_SECONDS))
            announce |= set(stale.values_list("room__slug", flat=True))
            stale.delete()
        for slug in dirty:
            users = local.get(slug, [])
            mine = Presence.objects.filter(process=process, room__slug=slug)
            deleted, _ = mine.exclude(user_id__in=users).delete()
            room_pk = rooms.get(slug)
            new: list[str] = []
            if users and room_pk is not None:
                have = {str(pk) for pk in mine.values_list("user_id", flat=True)}
                new = [u for u in users if u not in have]
                Presence.objects.bulk_create(
                    [Presence(room_id=room_pk, user_id=u, process=process, seen=now) for u in new],
                    ignore_conflicts=True,
                )
            if deleted or new:
                # Rows as they were (a stream opened and closed between two syncs): the
                # last announcement of the room, whoever made it, still holds.
                announce.add(slug)
        result: dict[str, list[str]] = {}
        for slug in sorted(announce):
            if slug not in rooms and not Room.objects.filter(slug=slug).exists():
                continue
            result[slug] = users = present_users(slug, now)
            sse.publish(PRESENCE_PREFIX + slug, {"users": users}, event="presence")
    return result


def on_stream_opened(sender: Any, *, channels: Sequence[str], user_key: str | None, **kwargs: Any) -> None:
    slugs = room_slugs(channels)
    if slugs and user_key is not None:
        PresenceTracker.current().opened(slugs, user_key)


def on_stream_closed(sender: Any, *, channels: Sequence[str], user_key: str | None, **kwargs: Any) -> None:
    slugs = room_slugs(channels)
    if slugs and user_key is not None:
        PresenceTracker.current().closed(slugs, user_key)
