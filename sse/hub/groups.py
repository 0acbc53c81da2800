"""ChannelGroup: one channel's local streams, delivered in log order, gaps filled from the log."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING

from sse.channels.registry import ChannelPattern, effective_rate, is_ephemeral, throttled_pattern
from sse.channels.throttle import Throttle
from sse.hub.log_threads import LOG_PAGE
from sse.hub.subscriber import Subscriber
from sse.storage import current_log_id
from sse.wire.cursor import LogPosition, channel_tag, format_cursor
from sse.wire.encoding import encode_body, encode_id

if TYPE_CHECKING:
    from sse.hub.channel_hub import ChannelHub

__all__ = ["ChannelGroup"]


# A throttled event on its way to streams: (seq, event name, data, conflation key, check).
_Item = tuple[int, str | None, str, Hashable, int | None]


class _RateGroup:
    """The streams of one channel that asked for the same lower rate, and their throttle."""

    __slots__ = ("members", "throttle")

    def __init__(self, throttle: Throttle) -> None:
        self.throttle = throttle
        self.members: dict[Subscriber, int] = {}


class ChannelGroup:
    """Seq N+1 goes out only after N: a jump is a gap the log fills before anything else.

    On a throttled channel (``max_rate``) events pass one throttle for every stream of the
    channel, then, for streams that asked for less, one more per rate.
    """

    __slots__ = (
        "ephemeral",
        "hub",
        "joining",
        "last_check",
        "last_seq",
        "members",
        "name",
        "pending",
        "rate_groups",
        "rate_of",
        "ready",
        "tag",
        "throttle",
        "throttled",
    )

    def __init__(self, hub: ChannelHub, name: str) -> None:
        self.hub = hub
        self.name = name
        self.tag = channel_tag((name,), current_log_id())
        #: Each local stream on this channel, with the channel's index among its channels.
        self.members: dict[Subscriber, int] = {}
        #: The last seq delivered here, and that event's check in the log (what ids carry).
        self.last_seq = 0
        self.last_check: int | None = None
        # Until the head is read, events from the layer wait here (seq -> (event, data, check)).
        self.joining = True
        self.pending: dict[int, tuple[str | None, str, int | None]] = {}
        self.ephemeral = is_ephemeral(name)
        self.ready: asyncio.Task[None] | None = None
        self.throttled: ChannelPattern | None = throttled_pattern(name)
        self.throttle: Throttle | None = None
        if self.throttled is not None:
            assert self.throttled.max_rate is not None
            self.throttle = Throttle(
                hub.loop, self.throttled.max_rate, self.throttled.throttle, self._deliver, hub.counts
            )
        self.rate_groups: dict[float, _RateGroup] = {}
        self.rate_of: dict[Subscriber, float] = {}

    def add(self, sub: Subscriber, index: int, asked_rate: float | None) -> None:
        """``sub`` reads this channel as its ``index``-th; ``asked_rate``: the rate it asked for."""
        self.members[sub] = index
        if asked_rate is None or self.throttled is None:
            return
        rate = effective_rate(self.throttled, asked_rate)
        if rate is None:
            return  # no lower than the channel's own
        group = self.rate_groups.get(rate)
        if group is None:
            throttle = Throttle(
                self.hub.loop,
                rate,
                self.throttled.throttle,
                functools.partial(self._deliver_at_rate, rate),
                self.hub.counts,
            )
            group = self.rate_groups[rate] = _RateGroup(throttle)
        group.members[sub] = index
        self.rate_of[sub] = rate

    def remove(self, sub: Subscriber) -> None:
        self.members.pop(sub, None)
        rate = self.rate_of.pop(sub, None)
        if rate is None:
            return
        group = self.rate_groups[rate]
        group.members.pop(sub, None)
        if not group.members:
            group.throttle.close()
            del self.rate_groups[rate]

    def close(self) -> None:
        """The last stream left: stop the timers."""
        if self.throttle is not None:
            self.throttle.close()
        for group in self.rate_groups.values():
            group.throttle.close()
        self.rate_groups.clear()

    async def join(self) -> None:
        """Join the layer group, then start from the log's head."""
        await self.hub.link.join(self.name)
        heads = await self.hub.log.heads([self.name])
        self.tag = channel_tag((self.name,), current_log_id())  # the log was read: its name is known now
        self.last_seq, self.last_check = heads[self.name]
        self._finish_joining()

    @property
    def head(self) -> LogPosition:
        """The last event delivered here, with its check."""
        return LogPosition(self.last_seq, self.last_check)

    def rewound(self, head: LogPosition) -> None:
        """The log no longer holds what this group delivered (restored from a backup, or
        emptied, and numbering new events again): its streams end, and their clients,
        resuming with ids the log cannot vouch for, get ``reset``. Then on from ``head``."""
        for sub in list(self.members):
            sub.close("log-rewound")
        self.hub.counts.log_rewinds += 1
        self.last_seq, self.last_check = head

    def on_event(
        self, seq: int, event: str | None, data: str, ts: float | None, check: int | None = None
    ) -> None:
        if seq <= self.last_seq:
            return
        if self.joining:
            # Bounded: what is left out is in the log, and the next poll finds it.
            if len(self.pending) < LOG_PAGE:
                self.pending[seq] = (event, data, check)
            return
        if seq == self.last_seq + 1 or self.ephemeral:
            self.fan_out(seq, event, data, ts, check)
            return
        # A gap: the layer dropped or reordered something. The log has it all (this event
        # too: it was handed on once committed).
        self.hub.catching_up.start(self.name)

    def fan_out(
        self, seq: int, event: str | None, data: str, ts: float | None, check: int | None = None
    ) -> None:
        hub = self.hub
        self.last_seq = seq
        self.last_check = check
        hub.counts.received += 1
        if not self.members:
            return
        if ts is not None:
            hub.delivery_lags.append(max(0.0, time.time() - ts))
        if self.throttle is None:
            self._send(seq, event, data, None, check)
            return
        assert self.throttled is not None
        key_of = self.throttled.conflation_key
        key = None if key_of is None else key_of(event, data)
        self.throttle.push(key, (seq, event, data, key, check))

    def _deliver(self, item: _Item) -> None:
        """What the channel's throttle lets through."""
        self._send(*item)

    def _send(self, seq: int, event: str | None, data: str, key: Hashable, check: int | None) -> None:
        hub = self.hub
        body = encode_body(event, data)
        single_id = encode_id(format_cursor(self.tag, (seq,), (check,)))
        if not self.rate_of:
            for sub, index in list(self.members.items()):
                sub.offer(index, seq, check, event, body, single_id)
            hub.counts.delivered += len(self.members)
            return
        # Some streams asked for a lower rate: they get this through their rate's throttle.
        rate_of = self.rate_of
        direct = [(sub, index) for sub, index in self.members.items() if sub not in rate_of]
        for sub, index in direct:
            sub.offer(index, seq, check, event, body, single_id)
        hub.counts.delivered += len(direct)
        for group in self.rate_groups.values():
            group.throttle.push(key, (seq, event, body, single_id, check))

    def _deliver_at_rate(self, rate: float, item: tuple[int, str | None, bytes, bytes, int | None]) -> None:
        group = self.rate_groups.get(rate)
        if group is None:
            return
        seq, event, body, single_id, check = item
        for sub, index in list(group.members.items()):
            sub.offer(index, seq, check, event, body, single_id)
        self.hub.counts.delivered += len(group.members)

    def _finish_joining(self) -> None:
        self.joining = False
        pending = sorted(self.pending.items())
        self.pending.clear()
        for seq, (event, data, check) in pending:
            self.on_event(seq, event, data, None, check)
