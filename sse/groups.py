"""ChannelGroup: one channel's local streams, delivered in log order, gaps filled from the log."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from sse.cursor import channel_tag
from sse.encoding import encode_body, encode_id
from sse.registry import is_ephemeral
from sse.storage.threads import LOG_PAGE
from sse.subscriber import Subscriber

if TYPE_CHECKING:
    from sse.hub import ChannelHub

__all__ = ["ChannelGroup"]


class ChannelGroup:
    """Seq N+1 goes out only after N: a jump is a gap the log fills before anything else."""

    __slots__ = ("ephemeral", "hub", "joining", "last_seq", "members", "name", "pending", "ready", "tag")

    def __init__(self, hub: ChannelHub, name: str) -> None:
        self.hub = hub
        self.name = name
        self.tag = channel_tag((name,))
        #: Each local stream on this channel, with the channel's index among its channels.
        self.members: dict[Subscriber, int] = {}
        #: The last seq delivered here.
        self.last_seq = 0
        # Until the head is read, events from the layer wait here (seq -> (event, data)).
        self.joining = True
        self.pending: dict[int, tuple[str | None, str]] = {}
        self.ephemeral = is_ephemeral(name)
        self.ready: asyncio.Task[None] | None = None

    async def join(self) -> None:
        """Join the layer group, then start from the log's head."""
        await self.hub.link.join(self.name)
        heads = await self.hub.log.heads([self.name])
        self.tag = channel_tag((self.name,))  # the log was read: its name is known now
        self.last_seq = heads[self.name]
        self._finish_joining()

    def on_event(self, seq: int, event: str | None, data: str, ts: float | None) -> None:
        if seq <= self.last_seq:
            return
        if self.joining:
            # Bounded: what is left out is in the log, and the next poll finds it.
            if len(self.pending) < LOG_PAGE:
                self.pending[seq] = (event, data)
            return
        if seq == self.last_seq + 1 or self.ephemeral:
            self.fan_out(seq, event, data, ts)
            return
        # A gap: the layer dropped or reordered something. The log has it all (this event
        # too: it was handed on once committed).
        self.hub.catching_up.start(self.name)

    def fan_out(self, seq: int, event: str | None, data: str, ts: float | None) -> None:
        hub = self.hub
        self.last_seq = seq
        hub.counts.received += 1
        if not self.members:
            return
        hub.refresh_limits()
        if ts is not None:
            hub.delivery_lags.append(max(0.0, time.time() - ts))
        body = encode_body(event, data)
        single_id = encode_id(f"{self.tag}:{seq}")
        for sub, index in list(self.members.items()):
            sub.offer(index, seq, event, body, single_id)
        hub.counts.delivered += len(self.members)

    def _finish_joining(self) -> None:
        self.joining = False
        pending = sorted(self.pending.items())
        self.pending.clear()
        for seq, (event, data) in pending:
            self.on_event(seq, event, data, None)
