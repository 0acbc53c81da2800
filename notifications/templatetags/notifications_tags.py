"""The unread badge and broadcast banners every page renders (base.html include slots)."""

from __future__ import annotations

from typing import Any

from django import template

from notifications.services import banners_for, unread_count

register = template.Library()

# One compact banner, the most severe and then the newest; the rest wait behind "N more";
# past MAX_BANNERS, in the notifications list only. _live.html orders live ones the same way.
VISIBLE_BANNERS = 1
MAX_BANNERS = 20
SEVERITY = {"error": 0, "warning": 1}  # then info and success, newest first


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
    broadcasts = sorted(banners_for(user)[:MAX_BANNERS], key=lambda b: SEVERITY.get(b.level, 2))
    return {
        "signed_in": True,
        "broadcasts": broadcasts,
        "visible": VISIBLE_BANNERS,
        "hidden_count": max(0, len(broadcasts) - VISIBLE_BANNERS),
    }
