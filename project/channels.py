"""Who may read the project's own channels (CONTRACT §2)."""

from __future__ import annotations

from typing import Any

import sse


@sse.channel("broadcast")
def can_read_broadcast(user: Any) -> bool:
    return bool(user.is_authenticated)


@sse.channel("notifications.user.{pk}")
def can_read_own_notifications(user: Any, pk: str) -> bool:
    return bool(user.is_authenticated and str(user.pk) == pk)


@sse.channel("dashboard", ephemeral=True)
def can_read_dashboard(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_staff)
