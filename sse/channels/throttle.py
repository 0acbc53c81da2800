"""Throttled channels: at most ``max_rate`` events per second reach a stream, the latest wins.

Every piece of throttling is here; the registry only declares a channel's rate as data.
A channel registered with ``max_rate`` is conflated, not thinned blindly: events that
arrive inside a window replace each other (per conflation key, when the channel has
one) and the survivors go out when the window ends, so the last event of a burst
always arrives. One :class:`Throttle` serves every stream of a channel in a process
(a timer per channel, not per stream); streams that asked for a lower rate share one
per rate (:class:`ChannelThrottles`, one per throttled channel of a hub).
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
from collections.abc import Callable, Hashable
from typing import Any, Literal, Protocol

__all__ = [
    "THROTTLE_MODES",
    "ChannelThrottles",
    "ConflationKey",
    "Conflations",
    "Throttle",
    "ThrottleMode",
    "conflation_key",
    "effective_rate",
    "parse_rate",
    "round_rate",
]

ThrottleMode = Literal["both", "leading", "trailing"]
THROTTLE_MODES: tuple[ThrottleMode, ...] = ("both", "leading", "trailing")

#: ``key(event_name, data) -> hashable``: events with equal keys replace each other.
ConflationKey = Callable[[str | None, str], Hashable]


# Client rates are rounded to this many per second, so streams asking for nearly the
# same rate share one throttle.
_RATE_STEP = 0.01


class Conflations(Protocol):
    """Where a throttle counts the items it replaced or dropped (never sent): a hub's
    ``sse.hub.stats.Counts`` (a protocol, so channels import nothing of the hub)."""

    conflated: int


class Declared(Protocol):
    """A throttled channel's declaration (``sse.channels.registry.ChannelPattern``)."""

    @property
    def max_rate(self) -> float | None: ...
    @property
    def min_rate(self) -> float | None: ...
    @property
    def throttle(self) -> ThrottleMode: ...
    @property
    def conflation_key(self) -> ConflationKey | None: ...


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


def effective_rate(declared: Declared, asked: float | None) -> float | None:
    """The rate a stream that ``asked`` for one gets on a throttled channel; None: the channel's.

    Never above the channel's ``max_rate``, never below its ``min_rate``.
    """
    assert declared.max_rate is not None
    if asked is None:
        return None
    rate = round_rate(asked)
    if declared.min_rate is not None:
        rate = max(rate, declared.min_rate)
    return rate if rate < declared.max_rate else None


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
        counts: Conflations,
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


# An event on its way to a channel's streams: (seq, event name, data, conflation key, check);
# then, encoded, to those that asked for a lower rate: (seq, event name, body, id line, check).
Item = tuple[int, str | None, str, Hashable, int | None]
Encoded = tuple[int, str | None, bytes, bytes, int | None]


class _RateGroup[M]:
    """The streams of one channel that asked for the same lower rate, and their throttle."""

    __slots__ = ("members", "throttle")

    def __init__(self, throttle: Throttle) -> None:
        self.throttle = throttle
        self.members: dict[M, int] = {}


class ChannelThrottles[M: Hashable]:
    """A throttled channel's throttles in one process: one for every stream of the channel
    (its ``max_rate``), then one more per lower rate streams asked for (``?max_rate=``).

    ``send(item)``: what the channel's throttle lets through (then encoded once, and given
    to :meth:`push_slower` for the streams of lower rates); ``offer(members, encoded)``: what
    a lower rate's throttle lets through, for its streams (member -> the channel's index
    among the stream's channels).
    """

    __slots__ = ("counts", "declared", "key_of", "loop", "main", "offer", "rate_of", "rates")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        declared: Declared,
        counts: Conflations,
        send: Callable[[Item], None],
        offer: Callable[[dict[M, int], Encoded], None],
    ) -> None:
        assert declared.max_rate is not None
        self.loop = loop
        self.declared = declared
        self.counts = counts
        self.key_of = declared.conflation_key
        self.main = Throttle(loop, declared.max_rate, declared.throttle, send, counts)
        self.offer = offer
        self.rates: dict[float, _RateGroup[M]] = {}
        #: The streams that asked for a lower rate, and which.
        self.rate_of: dict[M, float] = {}

    def add(self, member: M, index: int, asked: float | None) -> None:
        """``member`` reads the channel as its ``index``-th channel and ``asked`` for this rate."""
        rate = effective_rate(self.declared, asked)
        if rate is None:
            return  # no lower than the channel's own
        group = self.rates.get(rate)
        if group is None:
            emit = functools.partial(self._emit_at, rate)
            group = self.rates[rate] = _RateGroup(
                Throttle(self.loop, rate, self.declared.throttle, emit, self.counts)
            )
        group.members[member] = index
        self.rate_of[member] = rate

    def remove(self, member: M) -> None:
        rate = self.rate_of.pop(member, None)
        if rate is None:
            return
        group = self.rates[rate]
        group.members.pop(member, None)
        if not group.members:
            group.throttle.close()
            del self.rates[rate]

    def close(self) -> None:
        """The last stream left: stop the timers."""
        self.main.close()
        for group in self.rates.values():
            group.throttle.close()
        self.rates.clear()

    def push(self, seq: int, event: str | None, data: str, check: int | None) -> None:
        """An event of the channel, through its throttle."""
        key_of = self.key_of
        key = None if key_of is None else key_of(event, data)
        self.main.push(key, (seq, event, data, key, check))

    def push_slower(self, key: Hashable, encoded: Encoded) -> None:
        """What the channel's throttle let through, encoded: on to each lower rate's throttle."""
        for group in self.rates.values():
            group.throttle.push(key, encoded)

    def _emit_at(self, rate: float, encoded: Encoded) -> None:
        group = self.rates.get(rate)
        if group is not None:
            self.offer(group.members, encoded)
