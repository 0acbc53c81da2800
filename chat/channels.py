"""Who may read ``chat.room.<slug>``."""

from __future__ import annotations

from typing import Any

import sse
from chat.access import readable_room
from chat.models import Room


@sse.channel("chat.room.{slug}")
def can_read_room(user: Any, slug: str) -> bool:
    try:
        readable_room(user, slug)
    except Room.DoesNotExist:
        # 404, never 403: a private room must look exactly like a missing one.
        raise sse.ChannelNotFound(f"no chat room {slug}") from None
    return True
