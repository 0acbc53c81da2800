"""ChannelGroup: one channel's local streams, delivered in log order, gaps filled from the log."""

from __future__ import annotations

import asyncio
import logging
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

logger = logging.getLogger("sse.hub")

_RETRY_SECONDS = 1.0


class ChannelGroup:
    """Seq N+1 goes out only after N: a jump is a gap the log fills before anything else."""

    __slots__ = ("ephemeral", "healing", "hub", "last_seq", "members", "name", "pending", "ready", "tag")

    def __init__(self, hub: ChannelHub, name: str) -> None:
        self.hub = hub
        self.name = name
        self.tag = channel_tag((name,))
        #: Each local stream on this channel, with the channel's index among its channels.
        self.members: dict[Subscriber, int] = {}
        #: The last seq delivered here.
        self.last_seq = 0
        # Until the head is read, and while a gap is filled from the log,
        # events from the layer wait here (seq -> (event, data)).
        self.healing = True
        self.pending: dict[int, tuple[str | None, str]] = {}
        self.ephemeral = is_ephemeral(name)
        self.ready: asyncio.Task[None] | None = None

    async def join(self) -> None:
        """Join the layer group, then start from the log's head."""
        await self.hub.link.join(self.name)
        heads = await self.hub.log.heads([self.name])
        self.tag = channel_tag((self.name,))  # the log was read: its name is known now
        self.last_seq = heads[self.name]
        self._finish_healing()

    def on_event(self, seq: int, event: str | None, data: str, ts: float | None) -> None:
        if seq <= self.last_seq:
            return
        if self.healing:
            # Bounded: what is left out is in the log, and the next poll finds it.
            if len(self.pending) < LOG_PAGE:
                self.pending[seq] = (event, data)
            return
        if seq == self.last_seq + 1 or self.ephemeral:
            self._fan_out(seq, event, data, ts)
            return
        # A gap: the layer dropped or reordered something. Fill it from the log.
        self.pending[seq] = (event, data)
        self.heal()

    def _fan_out(self, seq: int, event: str | None, data: str, ts: float | None) -> None:
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

    def heal(self) -> None:
        """Read what the log has after ``last_seq`` before delivering anything newer."""
        if self.healing:
            return
        self.healing = True
        self.hub.loop.create_task(self._catch_up())

    async def _catch_up(self) -> None:
        hub = self.hub
        try:
            more = True
            while more and hub.groups.get(self.name) is self:
                events, more = await hub.log.read_page(self.name, self.last_seq)
                for ev in events:
                    if ev.seq > self.last_seq:
                        self._fan_out(ev.seq, ev.event, ev.data, None)
                        hub.counts.caught_up_events += 1
        except Exception as exc:
            logger.warning("reading the event log for %s failed: %s", self.name, exc)
            # The database is unwell: do not spin on it (pending events retry this).
            await asyncio.sleep(_RETRY_SECONDS)
        finally:
            self._finish_healing()

    def _finish_healing(self) -> None:
        self.healing = False
        pending = sorted(self.pending.items())
        self.pending.clear()
        for seq, (event, data) in pending:
            self.on_event(seq, event, data, None)
