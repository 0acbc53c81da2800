"""Who may read ``chat.room.<slug>`` (messages), ``chat.presence.<slug>`` (who is here),
``chat.typing.<slug>`` (who is typing) and ``chat.user.<pk>`` (a user's room activity).

The presence and typing channels are ephemeral: the event log keeps only their latest
event, so they never take a place in the room's message history (nor push messages out of
its retention), and a client that resumes gets the latest state, not every change."""

from __future__ import annotations

from typing import Any

import sse
from chat.access import readable_room
from chat.models import Room


@sse.channel("chat.typing.{slug}", ephemeral=True)
@sse.channel("chat.presence.{slug}", ephemeral=True)
@sse.channel("chat.room.{slug}")
def can_read_room(user: Any, slug: str) -> bool:
    try:
        readable_room(user, slug)
    except Room.DoesNotExist:
        # 404, never 403: a private room must look exactly like a missing one.
        raise sse.ChannelNotFound(f"no chat room {slug}") from None
    return True


@sse.channel("chat.user.{pk}")
def can_read_own_activity(user: Any, pk: str) -> bool:
    # Only ever the user's own: the events name rooms, private ones included.
    return bool(user.is_authenticated and str(user.pk) == pk)
