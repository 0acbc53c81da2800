"""The unread badge and broadcast banners every page renders (base.html include slots)."""

from __future__ import annotations

from typing import Any

from django import template

from notifications.services import banners_for, unread_count

register = template.Library()

# Banners past the first VISIBLE_BANNERS wait behind "N more"; past MAX_BANNERS, in the
# notifications list only.
VISIBLE_BANNERS = 2
MAX_BANNERS = 20


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
    broadcasts = list(banners_for(user)[:MAX_BANNERS])
    return {
        "signed_in": True,
        "broadcasts": broadcasts,
        "visible": VISIBLE_BANNERS,
        "hidden_count": max(0, len(broadcasts) - VISIBLE_BANNERS),
    }
