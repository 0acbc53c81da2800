"""ChannelGroup: one channel's local streams, delivered in log order, gaps filled from the log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING

from sse.channels.registry import is_ephemeral, throttled_pattern
from sse.channels.throttle import ChannelThrottles, Encoded, Item
from sse.hub.log_threads import LOG_PAGE
from sse.hub.subscriber import Subscriber
from sse.storage import current_log_id
from sse.wire.cursor import LogPosition, channel_tag, format_cursor
from sse.wire.encoding import encode_body, encode_id

if TYPE_CHECKING:
    from sse.hub.parts import GroupParts

__all__ = ["ChannelGroup", "join_groups", "leave_groups"]


class ChannelGroup:
    """Seq N+1 goes out only after N: a jump is a gap the log fills before anything else.

    On a throttled channel (``max_rate``) events pass its throttles first
    (sse.channels.throttle.ChannelThrottles).
    """

    __slots__ = (
        "ephemeral",
        "joining",
        "last_check",
        "last_seq",
        "members",
        "multi",
        "name",
        "parts",
        "pending",
        "ready",
        "tag",
        "throttles",
    )

    def __init__(self, parts: GroupParts, name: str) -> None:
        self.parts = parts
        self.name = name
        self.tag = channel_tag((name,), current_log_id())
        #: Each local stream on this channel, with the channel's index among its channels.
        self.members: dict[Subscriber, int] = {}
        #: How many of them read other channels too: then live events keep the log's order
        #: across channels (sse.hub.order).
        self.multi = 0
        #: The last seq delivered here, and that event's check in the log (what ids carry).
        self.last_seq = 0
        self.last_check: int | None = None
        # Until the head is read, events from the layer wait here (seq -> (event, data, check)).
        self.joining = True
        self.pending: dict[int, tuple[str | None, str, int | None]] = {}
        self.ephemeral = is_ephemeral(name)
        self.ready: asyncio.Task[None] | None = None
        declared = throttled_pattern(name)
        self.throttles: ChannelThrottles[Subscriber] | None = None
        if declared is not None:
            self.throttles = ChannelThrottles(
                parts.loop, declared, parts.counts, self._deliver, self._offer_all
            )

    def add(self, sub: Subscriber, index: int, asked_rate: float | None) -> None:
        """``sub`` reads this channel as its ``index``-th; ``asked_rate``: the rate it asked for."""
        if sub not in self.members and len(sub.channels) > 1:
            self.multi += 1
        self.members[sub] = index
        if asked_rate is not None and self.throttles is not None:
            self.throttles.add(sub, index, asked_rate)

    def remove(self, sub: Subscriber) -> None:
        if self.members.pop(sub, None) is not None and len(sub.channels) > 1:
            self.multi -= 1
        if self.throttles is not None:
            self.throttles.remove(sub)

    def close(self) -> None:
        """The last stream left: stop the timers."""
        if self.throttles is not None:
            self.throttles.close()

    async def join(self) -> None:
        """Join the layer group, then start from the log's head."""
        await self.parts.join_layer(self.name)
        heads = await self.parts.read_heads([self.name])
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
        self.parts.counts.log_rewinds += 1
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
        self.parts.catch_up(self.name)

    def fan_out(
        self, seq: int, event: str | None, data: str, ts: float | None, check: int | None = None
    ) -> None:
        parts = self.parts
        self.last_seq = seq
        self.last_check = check
        parts.counts.received += 1
        if not self.members:
            return
        if ts is not None:
            parts.lags.append(max(0.0, time.time() - ts))
        if self.throttles is None:
            self._send(seq, event, data, None, check)
        else:
            self.throttles.push(seq, event, data, check)

    def _deliver(self, item: Item) -> None:
        """What the channel's throttle lets through."""
        self._send(*item)

    def _send(self, seq: int, event: str | None, data: str, key: Hashable, check: int | None) -> None:
        parts = self.parts
        body = encode_body(event, data)
        single_id = encode_id(format_cursor(self.tag, (seq,), (check,)))
        throttles = self.throttles
        if throttles is None or not throttles.rate_of:
            for sub, index in list(self.members.items()):
                sub.offer(index, seq, check, event, body, single_id)
            parts.counts.delivered += len(self.members)
            return
        # Some streams asked for a lower rate: they get this through their rate's throttle.
        rate_of = throttles.rate_of
        direct = [(sub, index) for sub, index in self.members.items() if sub not in rate_of]
        for sub, index in direct:
            sub.offer(index, seq, check, event, body, single_id)
        parts.counts.delivered += len(direct)
        throttles.push_slower(key, (seq, event, body, single_id, check))

    def _offer_all(self, members: dict[Subscriber, int], encoded: Encoded) -> None:
        """What a lower rate's throttle lets through, to its streams."""
        seq, event, body, single_id, check = encoded
        for sub, index in list(members.items()):
            sub.offer(index, seq, check, event, body, single_id)
        self.parts.counts.delivered += len(members)

    def _finish_joining(self) -> None:
        self.joining = False
        pending = sorted(self.pending.items())
        self.pending.clear()
        for seq, (event, data, check) in pending:
            self.on_event(seq, event, data, None, check)


def join_groups(
    groups: dict[str, ChannelGroup], parts: GroupParts, sub: Subscriber, max_rate: float | None
) -> list[asyncio.Future[None]]:
    """Put ``sub`` in its channels' groups of a hub (a new group joins the layer and reads the
    log's head); ``max_rate``: the rate it asked for. What to wait for before it is live."""
    waits = []
    for index, name in enumerate(sub.channels):
        group = groups.get(name)
        if group is None:
            group = groups[name] = ChannelGroup(parts, name)
            group.ready = parts.loop.create_task(group.join())
        group.add(sub, index, max_rate)
        assert group.ready is not None
        waits.append(asyncio.shield(group.ready))
    return waits


def leave_groups(groups: dict[str, ChannelGroup], sub: Subscriber) -> Iterator[str]:
    """Take ``sub`` out of its channels' groups of a hub; yields the channels left with no stream
    (their groups closed and gone: the hub leaves their layer groups)."""
    for name in sub.channels:
        group = groups.get(name)
        if group is None:
            continue
        group.remove(sub)
        if not group.members:
            group.close()
            del groups[name]
            if group.ready is not None and not group.ready.done():
                group.ready.cancel()
            yield name
