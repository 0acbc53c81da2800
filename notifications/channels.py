"""Who may read the notification, broadcast and dashboard channels."""

from __future__ import annotations

from typing import Any

import sse

BROADCAST = "broadcast"
DASHBOARD = "dashboard"
DASHBOARD_VIEWER_PREFIX = "dashboard.user."


def dashboard_viewer_channel(pk: object) -> str:
    """A staff member's own part of the dashboard: the busiest channels they may read."""
    return f"{DASHBOARD_VIEWER_PREFIX}{pk}"


def user_channel(pk: object) -> str:
    return f"notifications.user.{pk}"


def html_channel(pk: object) -> str:
    """The user's notifications as HTML fragments, for the htmx page (JSON clients never see them)."""
    return f"notifications.html.{pk}"


@sse.channel(BROADCAST)
def can_read_broadcast(user: Any) -> bool:
    # Everyone-broadcasts only: a broadcast to staff, a group or chosen users goes to
    # each member's own channel, so nobody outside the audience ever receives it.
    return bool(user.is_authenticated)


@sse.channel("notifications.user.{pk}")
def can_read_own_notifications(user: Any, pk: str) -> bool:
    return bool(user.is_authenticated and str(user.pk) == pk)


@sse.channel("notifications.html.{pk}")
def can_read_own_notification_fragments(user: Any, pk: str) -> bool:
    return bool(user.is_authenticated and str(user.pk) == pk)


@sse.channel(DASHBOARD, ephemeral=True)
def can_read_dashboard(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_staff)


@sse.channel("dashboard.user.{pk}", ephemeral=True)
def can_read_own_dashboard_channels(user: Any, pk: str) -> bool:
    # Channel names, filtered for this one staff member: nobody else's.
    return bool(user.is_authenticated and user.is_staff and str(user.pk) == pk)
