"""The unread badge and broadcast banners every page renders (base.html include slots)."""

from __future__ import annotations

from typing import Any

from django import template

from notifications.models import Broadcast
from notifications.services import unread_count

register = template.Library()

MAX_BANNERS = 5


@register.inclusion_tag("notifications/_badge_tag.html", takes_context=True)
def unread_badge(context: dict[str, Any]) -> dict[str, Any]:
    user = context.get("user")
    signed_in = bool(user is not None and user.is_authenticated)
    return {"signed_in": signed_in, "count": unread_count(user) if signed_in else 0}


@register.inclusion_tag("notifications/_banners_tag.html", takes_context=True)
def broadcast_banners(context: dict[str, Any]) -> dict[str, Any]:
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return {"signed_in": False, "broadcasts": []}
    broadcasts = list(Broadcast.objects.active().visible_to(user).order_by("-sent_at")[:MAX_BANNERS])
    return {"signed_in": True, "broadcasts": broadcasts}
