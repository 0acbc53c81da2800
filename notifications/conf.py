"""Settings of the notifications app, read when used (so tests can override them)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULT_BROADCAST_TTL = timedelta(hours=24)


def broadcast_ttl() -> timedelta | None:
    """NOTIFICATIONS_BROADCAST_TTL: how long a broadcast given no expiry stays on pages.

    A timedelta or a number of seconds (default 24 hours); ``None`` or ``0`` keeps such
    broadcasts until someone sets an expiry.
    """
    value = getattr(settings, "NOTIFICATIONS_BROADCAST_TTL", DEFAULT_BROADCAST_TTL)
    if value is None or value == 0:
        return None
    if isinstance(value, timedelta):
        ttl = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        ttl = timedelta(seconds=value)
    else:
        raise ImproperlyConfigured("NOTIFICATIONS_BROADCAST_TTL must be a timedelta or a number of seconds")
    if ttl <= timedelta(0):
        return None
    return ttl
