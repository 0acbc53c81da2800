"""notify() / anotify(), read marks and broadcasts: save, then push after commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

import sse
from notifications.channels import BROADCAST, html_channel, user_channel
from notifications.models import Audience, Broadcast, BroadcastDismissal, Level, Notification

__all__ = [
    "anotify",
    "audience_of",
    "banners_for",
    "broadcasts_for",
    "dismiss_broadcast",
    "mark_all_read",
    "mark_read",
    "notify",
    "push_new",
    "send_broadcast",
    "unread_count",
]

logger = logging.getLogger("notifications")

ITEM_TEMPLATE = "notifications/_item.html"


def unread_count(user: Any) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def _push_unread_after_commit(user_pk: Any) -> None:
    # Counted after commit, not inside the transaction: two notifications committing
    # side by side would each count without the other and leave a stale badge.
    def push() -> None:
        count = Notification.objects.filter(recipient_id=user_pk, read_at__isnull=True).count()
        sse.publish(user_channel(user_pk), {"count": count}, event="unread")

    transaction.on_commit(push)


def notify(user: Any, title: str, body: str = "", *, level: str = Level.INFO, url: str = "") -> Notification:
    """Save a notification for ``user`` and push it (and the new unread count) to their streams.

    Inside ``transaction.atomic()`` nothing goes out until commit, and nothing at all on rollback.
    """
    if level not in Level.values:
        raise ValueError(f"level must be one of {', '.join(Level.values)}")
    notification = Notification(recipient=user, title=title, body=body, level=level, url=url)
    notification.full_clean(exclude=["recipient"])
    with transaction.atomic():
        notification.save()
        push_new(notification)
    return notification


def push_new(notification: Notification) -> None:
    """Send a just-saved notification and the new unread count (on commit)."""
    sse.publish(user_channel(notification.recipient_id), notification.event_data(), event="notification")
    # The same notification as the htmx page's list item, rendered once, on a channel of its own
    # (the JSON stream's events stay as they are) and under an event name of its own: a page's one
    # stream carries both channels, and the JSON `notification` swapped as HTML would run markup.
    sse.publish_html(
        html_channel(notification.recipient_id), ITEM_TEMPLATE, {"n": notification}, event="notification-html"
    )
    _push_unread_after_commit(notification.recipient_id)


async def anotify(
    user: Any, title: str, body: str = "", *, level: str = Level.INFO, url: str = ""
) -> Notification:
    """Async form of :func:`notify`."""
    return await sync_to_async(notify)(user, title, body, level=level, url=url)


def mark_read(notification: Notification) -> bool:
    """Mark one notification read; push the new unread count. False if it already was."""
    with transaction.atomic():
        changed = Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
            read_at=timezone.now()
        )
        if changed:
            _push_unread_after_commit(notification.recipient_id)
    notification.refresh_from_db(fields=["read_at"])
    return bool(changed)


def mark_all_read(user: Any) -> int:
    with transaction.atomic():
        changed = Notification.objects.filter(recipient=user, read_at__isnull=True).update(
            read_at=timezone.now()
        )
        # Always push: another tab may show a stale count even when nothing changed here.
        _push_unread_after_commit(user.pk)
    return changed


# -- broadcasts ---------------------------------------------------------------


def audience_of(broadcast: Broadcast) -> QuerySet[Any] | None:
    """The users a targeted broadcast goes to; None for everyone."""
    users = get_user_model()._default_manager.filter(is_active=True)
    if broadcast.audience == Audience.EVERYONE:
        return None
    if broadcast.audience == Audience.STAFF:
        return users.filter(is_staff=True)
    if broadcast.audience == Audience.GROUP:
        if broadcast.group_id is None:
            return users.none()
        return users.filter(groups=broadcast.group_id)
    return users.filter(pk__in=broadcast.users.values("pk"))


def send_broadcast(broadcast: Broadcast) -> None:
    """Push ``broadcast`` to its audience once the surrounding transaction commits."""
    pk = broadcast.pk
    transaction.on_commit(lambda: _send_now(pk))


def _send_now(pk: int) -> None:
    broadcast = Broadcast.objects.get(pk=pk)
    data = broadcast.event_data()
    audience = audience_of(broadcast)
    if audience is None:
        channels = [BROADCAST]
        recipients = None
    else:
        pks = list(audience.values_list("pk", flat=True))
        channels = [user_channel(user_pk) for user_pk in pks]
        recipients = len(pks)
    reached = open_streams_on(channels)
    with transaction.atomic():
        for name in channels:
            sse.publish(name, data, event="broadcast")
        Broadcast.objects.filter(pk=pk).update(
            sent_at=timezone.now(), recipients=recipients, streams_reached=reached
        )


def broadcasts_for(user: Any) -> QuerySet[Broadcast]:
    """Broadcasts that went out to ``user``'s audience since they joined, newest first, each with
    ``dismissed`` (a bool annotation): the notifications list keeps them after the banner closed
    or expired."""
    if not user.is_authenticated:
        return Broadcast.objects.none()
    sent = Broadcast.objects.visible_to(user).filter(sent_at__isnull=False)
    joined = getattr(user, "date_joined", None)
    if joined is not None:
        sent = sent.filter(sent_at__gte=joined)
    dismissed = BroadcastDismissal.objects.filter(broadcast=OuterRef("pk"), user=user)
    return sent.annotate(dismissed=Exists(dismissed)).order_by("-sent_at", "-id")


def banners_for(user: Any) -> QuerySet[Broadcast]:
    """The broadcasts a page shows as banners: active, for the user's audience, not dismissed."""
    if not user.is_authenticated:
        return Broadcast.objects.none()
    return Broadcast.objects.active().visible_to(user).not_dismissed_by(user).order_by("-sent_at", "-id")


def dismiss_broadcast(user: Any, broadcast: Broadcast) -> bool:
    """Close ``broadcast``'s banner for ``user`` in every browser. False if it already was."""
    _, created = BroadcastDismissal.objects.get_or_create(user=user, broadcast=broadcast)
    return created


def open_streams_on(channels: Iterable[str]) -> int:
    """Open streams of this server process subscribed to any of ``channels`` (0 elsewhere).

    Other server processes (with REDIS_URL) are not counted here: the figure is what
    the process that sent it can see.
    """
    hub = sse.ChannelHub.running()
    if hub is None:
        return 0
    names = list(channels)

    async def count() -> int:
        return hub.streams_on(names)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return 0  # called on a loop: never block it waiting for itself
    future = asyncio.run_coroutine_threadsafe(count(), hub.loop)
    try:
        return future.result(timeout=5)
    except Exception as exc:  # the loop is busy or gone: the broadcast still goes out
        logger.warning("could not count the open streams of a broadcast: %s", exc)
        future.cancel()
        return 0
