"""Membership and privacy changes re-check the open streams they concern at once, in
every process (``sse.access_changed``): a member removed from a private room loses its
stream within a second, not at the next periodic re-check, and no message posted after
the removal reaches them."""

from __future__ import annotations

from typing import Any

import sse
from chat.models import Room

__all__ = ["connect"]


def _room_channels(room: Room) -> list[str]:
    return [room.channel, room.presence_channel, room.typing_channel]


def _room_saved(
    sender: Any, instance: Room, created: bool = False, using: str | None = None, **kwargs: Any
) -> None:
    if not created:  # made private (or renamed): whoever reads it is asked again
        sse.access_changed(channels=_room_channels(instance), using=using)


def _room_deleted(sender: Any, instance: Room, using: str | None = None, **kwargs: Any) -> None:
    sse.access_changed(channels=_room_channels(instance), using=using)


def connect() -> None:
    from django.db.models.signals import post_delete, post_save

    # Added, removed, cleared: room.members.remove(user), user.chat_rooms.clear(), the admin.
    sse.follow_membership(Room.members)
    post_save.connect(_room_saved, sender=Room, dispatch_uid="chat.revocation.room_saved")
    post_delete.connect(_room_deleted, sender=Room, dispatch_uid="chat.revocation.room_deleted")
