"""Demo rooms: ``lobby`` open to all, ``staff`` private to admin and alice."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from chat.models import Room

ROOMS = [
    ("lobby", "Lobby", False, []),
    ("staff", "Staff room", True, ["admin", "alice"]),
]


def seed(stdout: Any) -> None:
    User = get_user_model()
    for slug, name, private, members in ROOMS:
        room, created = Room.objects.update_or_create(slug=slug, defaults={"name": name, "private": private})
        if members:
            room.members.add(*User._default_manager.filter(username__in=members))
        stdout.write(f"{'created' if created else 'updated'} chat room {slug}")
