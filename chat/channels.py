"""Who may read ``chat.room.<slug>`` (messages) and ``chat.presence.<slug>`` (who is here).

The presence channel is ephemeral: the event log keeps only its latest event, so presence
changes never take a place in the room's message history (nor push messages out of its
retention), and a client that resumes gets the current list, not every change."""

from __future__ import annotations

from typing import Any

import sse
from chat.access import readable_room
from chat.models import Room


@sse.channel("chat.presence.{slug}", ephemeral=True)
@sse.channel("chat.room.{slug}")
def can_read_room(user: Any, slug: str) -> bool:
    try:
        readable_room(user, slug)
    except Room.DoesNotExist:
        # 404, never 403: a private room must look exactly like a missing one.
        raise sse.ChannelNotFound(f"no chat room {slug}") from None
    return True
