"""Posting a message: the rules shared by the JSON API and the plain form post."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

import sse
from chat.conf import conf
from chat.models import Message, Presence, ReadMark, Room

__all__ = [
    "UNREAD_CAP",
    "InvalidMessage",
    "RateLimited",
    "announce_activity",
    "clean_body",
    "mark_read",
    "post_message",
    "rate_limit_wait",
    "signal_typing",
    "unread_counts",
    "user_channel",
]

# Unread counts stop at this many (the page shows "99+"): counting a busy room's whole
# history on every page load would cost more than the figure is worth.
UNREAD_CAP = 100


class InvalidMessage(ValueError):
    """The body is not a message we accept; ``str(exc)`` says why, for people."""


class RateLimited(Exception):
    def __init__(self, wait: int) -> None:
        super().__init__(f"Too many messages: wait {wait} s before sending another.")
        self.wait = wait


def clean_body(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidMessage("Write the message as text.")
    body = value.strip()
    if not body:
        raise InvalidMessage("Write a message first: it is empty.")
    limit = conf.MAX_MESSAGE_LENGTH
    if len(body) > limit:
        raise InvalidMessage(f"A message is at most {limit} characters; this one has {len(body)}.")
    if "\x00" in body:
        raise InvalidMessage("A message cannot contain NUL characters.")
    try:
        body.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidMessage("A message must be valid Unicode text.") from None
    return body


def rate_limit_wait(author: Any) -> int:
    """Seconds until ``author`` may post again (0: now). Counts stored messages, so
    every server process sees the same figure."""
    limit, window = conf.RATE_LIMIT_MESSAGES, conf.RATE_LIMIT_WINDOW_SECONDS
    if limit <= 0 or window <= 0:
        return 0
    now = timezone.now()
    recent = list(
        Message.objects.filter(author=author, created__gt=now - timedelta(seconds=window))
        .order_by("-created")
        .values_list("created", flat=True)[:limit]
    )
    if len(recent) < limit:
        return 0
    free_at = recent[-1] + timedelta(seconds=window)
    return max(1, math.ceil((free_at - now).total_seconds()))


def post_message(room: Room, author: Any, body: Any) -> Message:
    """Store a message and push ``message`` to the room when the transaction commits.

    Raises :class:`InvalidMessage` or :class:`RateLimited`.
    """
    text = clean_body(body)
    with transaction.atomic():
        # One post per user at a time, so two quick posts cannot both squeeze under the
        # limit (a row lock where the database has them; SQLite serialises writers anyway).
        User = get_user_model()
        list(User._default_manager.select_for_update().filter(pk=author.pk).values_list("pk"))
        wait = rate_limit_wait(author)
        if wait:
            raise RateLimited(wait)
        message = Message.objects.create(room=room, author=author, body=text)
        sse.publish(room.channel, message.as_event(), event="message")
        announce_activity(message)
    return message


def user_channel(pk: object) -> str:
    """A user's own chat channel: ``room_activity`` events for the room list's unread counts."""
    return f"chat.user.{pk}"


def announce_activity(message: Message) -> None:
    """``room_activity`` {room, id} to the readers of the message's room who have a chat
    page open (a live presence row in any room), so their room lists count it as unread.

    Readers with no chat page open get nothing: their counts are read from the database
    when they open one. The author is left out (their own message is not unread).
    """
    room = message.room
    since = timezone.now() - timedelta(seconds=conf.PRESENCE_TTL_SECONDS)
    present = Presence.objects.filter(seen__gte=since).exclude(user_id=message.author_id)
    if room.private:
        # Never tell a user about a private room they are not a member of.
        present = present.filter(user__in=room.members.all())
    data = {"room": room.slug, "id": message.pk}
    for pk in sorted(set(present.values_list("user_id", flat=True))):
        sse.publish(user_channel(pk), data, event="room_activity")


def mark_read(user: Any, room: Room) -> int:
    """Mark every message of ``room`` as seen by ``user``; the newest message id (0: none)."""
    newest = room.messages.aggregate(newest=Max("id"))["newest"] or 0
    mark, created = ReadMark.objects.get_or_create(user=user, room=room, defaults={"last_read_id": newest})
    if not created and mark.last_read_id < newest:
        # Only forward: a slow request never un-reads what a later one marked.
        ReadMark.objects.filter(pk=mark.pk, last_read_id__lt=newest).update(last_read_id=newest)
    return int(newest)


def unread_counts(user: Any, rooms: list[Room]) -> dict[int, dict[str, int]]:
    """Per room pk: {unread, last_id}. ``unread``: messages of others since ``user`` last
    viewed the room (at most :data:`UNREAD_CAP`); ``last_id``: the room's newest message
    id, so a page can tell which ``room_activity`` events the count already includes."""
    marks = dict(ReadMark.objects.filter(user=user, room__in=rooms).values_list("room_id", "last_read_id"))
    newest = dict(
        Message.objects.filter(room__in=rooms)
        .values("room_id")
        .annotate(newest=Max("id"))
        .values_list("room_id", "newest")
    )
    result = {}
    for room in rooms:
        unread = (
            Message.objects.filter(room=room, id__gt=marks.get(room.pk, 0))
            .exclude(author=user)
            .values("id")[:UNREAD_CAP]
            .count()
        )
        result[room.pk] = {"unread": unread, "last_id": int(newest.get(room.pk) or 0)}
    return result


def signal_typing(room: Room, user: Any) -> bool:
    """Tell the room ``user`` is typing (``typing`` {room, user} on its ephemeral channel).

    Pages send this at most every ~2 s while typing; a faster sender is ignored here too
    (False), so one user cannot flood the channel.
    """
    key = f"chat.typing.{room.pk}.{user.pk}"
    if not cache.add(key, True, timeout=1):
        return False
    sse.publish(room.typing_channel, {"room": room.slug, "user": user.get_username()}, event="typing")
    return True
