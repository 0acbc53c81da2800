"""The channels the sse tests stream: one per kind of access rule."""

from __future__ import annotations

from typing import Any

import sse

# Rooms that exist; any other slug is a 404, the way a real app looks one up.
ROOMS = frozenset({"lobby", "quiet"})


@sse.channel("public")
def can_read_public(user: Any) -> bool:
    return bool(user.is_authenticated)


@sse.channel("user.{pk}")
def can_read_own(user: Any, pk: str) -> bool:
    return bool(user.is_authenticated and str(user.pk) == pk)


@sse.channel("staff")
async def can_read_staff(user: Any) -> bool:
    # Async on purpose: the registry must accept both kinds of rule.
    return bool(user.is_authenticated and user.is_staff)


@sse.channel("room.{slug}")
def can_read_room(user: Any, slug: str) -> bool:
    if slug not in ROOMS:
        raise sse.ChannelNotFound(f"no room {slug}")
    return bool(user.is_authenticated)


@sse.channel("scratch.{name}")
def can_read_scratch(user: Any, name: str) -> bool:
    # A fresh channel per test, so tests never see each other's events.
    return bool(user.is_authenticated)


@sse.channel("orders.customer.{pk}")
def can_read_orders(user: Any, pk: str) -> bool:
    # A customer's orders: the customer, and staff (docs/testing.md streams this one).
    return bool(user.is_authenticated and (user.is_staff or str(user.pk) == pk))


@sse.channel("throttled.{name}", max_rate=5)
def can_read_throttled(user: Any, name: str) -> bool:
    # At most 5 events a second per stream, the latest wins (tests/sse/test_throttle.py).
    return bool(user.is_authenticated)


@sse.channel("prices.{name}", max_rate=5, conflate_by="symbol", min_rate=0.5)
def can_read_prices(user: Any, name: str) -> bool:
    # The latest price per symbol; a stream may ask for as little as one event per 2 s.
    return bool(user.is_authenticated)
