"""Who may see a room. A private room is invisible to everyone but its members:
the page, the stream, the history and posting all answer 404 for it, exactly as
for a room that does not exist, so its name never leaks."""

from __future__ import annotations

from typing import Any

from chat.models import Room

__all__ = ["readable_room"]


def readable_room(user: Any, slug: str) -> Room:
    """The room ``slug`` if ``user`` may read it; :class:`Room.DoesNotExist` otherwise."""
    return Room.objects.readable_by(user).get(slug=slug)
