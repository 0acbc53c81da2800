"""Rooms, their messages, and who has a stream open on them (presence)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

# A room's channels are chat.room.<slug> (messages) and chat.presence.<slug> (who is
# here); channel names stop at 80 characters.
SLUG_MAX_LENGTH = 50
slug_validator = RegexValidator(r"^[A-Za-z0-9_-]+\Z", "letters, digits, - and _ only")


class RoomQuerySet(models.QuerySet["Room"]):
    def readable_by(self, user: Any) -> RoomQuerySet:
        """Open rooms for any signed-in user; private rooms for their members only."""
        if user is None or not user.is_authenticated:
            return self.none()
        return self.filter(Q(private=False) | Q(members=user)).distinct()


class Room(models.Model):
    slug = models.CharField(max_length=SLUG_MAX_LENGTH, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=100)
    private = models.BooleanField(
        default=False, help_text="Private rooms are visible to their members only; open rooms to everyone."
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="chat_rooms")
    created = models.DateTimeField(default=timezone.now, editable=False)

    objects = RoomQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name

    @property
    def channel(self) -> str:
        return f"chat.room.{self.slug}"

    @property
    def presence_channel(self) -> str:
        return f"chat.presence.{self.slug}"

    @property
    def typing_channel(self) -> str:
        return f"chat.typing.{self.slug}"

    def get_absolute_url(self) -> str:
        return reverse("chat:room", args=[self.slug])


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages"
    )
    body = models.TextField()
    created = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["room", "-created"], name="chat_msg_room_created"),
            # The rate limit counts a user's recent messages.
            models.Index(fields=["author", "-created"], name="chat_msg_author_created"),
        ]

    def __str__(self) -> str:
        return f"{self.author} in {self.room}: {self.body[:40]}"

    def as_event(self) -> dict[str, Any]:
        """The ``message`` event's data, also the API's message shape."""
        return {
            "id": self.pk,
            "room": self.room.slug,
            "user": self.author.get_username(),
            "body": self.body,
            "created": self.created,
        }


class ReadMark(models.Model):
    """The newest message of ``room`` that ``user`` has seen: what unread counts start from.

    Written when the user opens the room's page and while it stays open; a room the user
    never opened has no mark and counts all its messages as unread.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="read_marks")
    last_read_id = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "room"], name="chat_readmark_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} read {self.room} up to {self.last_read_id}"


class Presence(models.Model):
    """One user with at least one open stream on a room, in one server process.

    Each process keeps its own rows fresh (``seen``) while the streams stay open
    and deletes them when the last one closes; rows nobody refreshed for
    ``CHAT_PRESENCE_TTL_SECONDS`` belong to a dead process and are swept.
    """

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="presence")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    process = models.CharField(max_length=100)
    seen = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user", "process"], name="chat_presence_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.room} via {self.process}"
