"""Throttled channels: at most ``max_rate`` events per second reach a stream, the latest wins.

A channel registered with ``max_rate`` is conflated, not thinned blindly: events that
arrive inside a window replace each other (per conflation key, when the channel has
one) and the survivors go out when the window ends, so the last event of a burst
always arrives. One :class:`Throttle` serves every stream of a channel in a process
(a timer per channel, not per stream); streams that asked for a lower rate share one
per rate.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Hashable
from typing import Any, Literal, Protocol

__all__ = ["THROTTLE_MODES", "ConflationKey", "Throttle", "ThrottleMode", "conflation_key", "parse_rate"]

ThrottleMode = Literal["both", "leading", "trailing"]
THROTTLE_MODES: tuple[ThrottleMode, ...] = ("both", "leading", "trailing")

#: ``key(event_name, data) -> hashable``: events with equal keys replace each other.
ConflationKey = Callable[[str | None, str], Hashable]


class Counts(Protocol):
    """Where a throttle counts what it replaced or dropped: a hub's ``sse.hub.stats.Counts``
    (a protocol, so channels import nothing of the hub)."""

    conflated: int


# Client rates are rounded to this many per second, so streams asking for nearly the
# same rate share one throttle.
_RATE_STEP = 0.01


def conflation_key(conflate_by: str | ConflationKey | None) -> ConflationKey | None:
    """The key function of a channel's ``conflate_by``.

    A string names a field of the event's JSON object (``"symbol"``: the latest price per
    symbol); events whose data is not a JSON object, or lack the field, share one key.
    A callable gets ``(event_name, data)``. ``None``: one key, the latest event wins.
    """
    if conflate_by is None or callable(conflate_by):
        return conflate_by
    if not isinstance(conflate_by, str) or not conflate_by:
        raise TypeError("conflate_by must be a JSON field name or a callable (event, data) -> key")
    field = conflate_by

    def by_field(event: str | None, data: str) -> Hashable:
        try:
            value = json.loads(data)
        except ValueError:
            return None
        if not isinstance(value, dict):
            return None
        found = value.get(field)
        # JSON values that are not hashable (lists, objects) are keyed by their text.
        return found if isinstance(found, (str, int, float, bool)) or found is None else json.dumps(found)

    return by_field


def parse_rate(value: object, what: str) -> float:
    """A rate in events per second: a positive finite number."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number of events per second, not {value!r}")
    try:
        rate = float(value)  # type: ignore[arg-type]  # anything float() takes; the rest is refused below
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number of events per second, not {value!r}") from None
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"{what} must be a positive number of events per second, not {value!r}")
    return rate


def round_rate(rate: float) -> float:
    """``rate`` rounded down to a step of 0.01/s (never below the step)."""
    return max(_RATE_STEP, math.floor(rate / _RATE_STEP + 1e-9) * _RATE_STEP)


class Throttle:
    """Conflates what it is given into at most one batch per ``1 / rate`` seconds.

    ``mode`` ``"both"`` (the default of channels): an event after a quiet window goes out
    at once, what arrives within the window after it is conflated and goes out when the
    window ends. ``"trailing"``: every event waits for its window's end (a lone event is
    one window late). ``"leading"``: the first event of a window goes out, the rest of
    that window is dropped (the last event of a burst may be lost: for pings whose
    receivers fetch the state themselves).

    A batch holds the latest item per key, in the order of those items' arrival.
    Lives on one event loop; ``emit`` is called there.
    """

    __slots__ = ("counts", "emit", "interval", "leading", "loop", "pending", "timer", "trailing")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        rate: float,
        mode: ThrottleMode,
        emit: Callable[[Any], None],
        counts: Counts,
    ) -> None:
        self.loop = loop
        #: Where items replaced or dropped (never sent) are counted: ``counts.conflated``.
        self.counts = counts
        self.interval = 1.0 / rate
        self.leading = mode in ("both", "leading")
        self.trailing = mode in ("both", "trailing")
        self.emit = emit
        self.pending: dict[Hashable, Any] = {}
        self.timer: asyncio.TimerHandle | None = None

    def push(self, key: Hashable, item: Any) -> None:
        if self.timer is None:
            # A quiet window: open one.
            self.timer = self.loop.call_later(self.interval, self._window_ended)
            if self.leading:
                self.emit(item)
                return
        pending = self.pending
        if pending.pop(key, None) is not None:
            self.counts.conflated += 1
        pending[key] = item  # moved to the end: a batch keeps the order of arrival

    def _window_ended(self) -> None:
        self.timer = None
        if not self.pending:
            return
        batch, self.pending = self.pending, {}
        if not self.trailing:
            self.counts.conflated += len(batch)
            return
        # What goes out now opens the next window: the rate holds across bursts.
        self.timer = self.loop.call_later(self.interval, self._window_ended)
        for item in batch.values():
            self.emit(item)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.pending.clear()
