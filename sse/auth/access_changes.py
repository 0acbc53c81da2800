"""``sse.access_changed()`` / ``sse.aaccess_changed()``: some streams' access may have changed,
so they are re-checked now, in every process: this process's hub directly
(sse.auth.revocation.on_notice), the others over the channel layer's ``sse-access`` group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction

from sse.auth.revocation import on_notice, watched_hub
from sse.transport.layer import send_access_notice

__all__ = ["EVERY", "MAX_NOTICE_USERS", "aaccess_changed", "access_changed", "changed"]

#: Past this many users a notice re-checks every stream (a group of thousands changed).
MAX_NOTICE_USERS = 1000
#: The channel pattern of every stream.
EVERY = "*"


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
    hub = watched_hub()
    if hub is not None:
        try:
            hub.loop.call_soon_threadsafe(on_notice, hub, users, channels)
        except RuntimeError:  # its loop closed meanwhile
            pass
    send_access_notice(users, channels)


def changed(pks: Iterable[Any], using: str | None) -> None:
    """From a signal handler (sync ORM code): ``access_changed`` for these users."""
    notice = _notice(list(pks), ())
    if notice is not None:
        transaction.on_commit(lambda: _announce(*notice), using=using)
