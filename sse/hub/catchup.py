"""Catching up from the log: what the layer did not bring, for every lagging channel at once.

A channel falls behind when the layer drops or reorders an event (a gap in its seqs)
or when the log poll finds a head past what the hub delivered (events from processes
the layer does not connect). Then what the log has after every channel's last seq is
read, merged in publish order (in reads of up to 200 channels), and events arriving
meanwhile wait in arrival order: so a stream of several channels sees each
publisher's events in the order they were published, as a stream that missed
nothing would.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from sse.hub.log_threads import LOG_PAGE

if TYPE_CHECKING:
    from sse.hub.groups import ChannelGroup
    from sse.hub.order import OrderGate
    from sse.hub.stats import Counts
    from sse.storage.base import LoggedEvent

__all__ = ["CatchUp"]

logger = logging.getLogger("sse.hub")

_RETRY_SECONDS = 1.0
# Channels read in one merged query at most (an OR per channel: databases bound its size).
_CHANNELS_PER_READ = 200
# Events held while reading; what is left out is in the log and found by the next read.
_MAX_HELD = 10 * LOG_PAGE

HeldEvent = tuple[str, int, str | None, str, float | None, int | None, int | None]
#: ``read_merged_page({channel: after seq})``: what the log has after them, in publish order,
#: and whether there is more (``LogThreads.read_merged_page``).
type ReadMerged = Callable[[dict[str, int]], Awaitable[tuple[list[LoggedEvent], bool]]]


class CatchUp:
    """One hub's reads of missed events. Lives on the hub's loop.

    Given the hub's channel groups (the hub's dict: it follows them), the log read, the
    counters, and ``on_event``: where held events go once the read is over (the hub's
    :meth:`~sse.hub.channel_hub.ChannelHub.on_event`, which may hold them again).
    """

    __slots__ = ("counts", "gate", "groups", "held", "lagging", "loop", "on_event", "read_merged")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        groups: Mapping[str, ChannelGroup],
        read_merged: ReadMerged,
        counts: Counts,
        on_event: Callable[[str, int, str | None, str, float | None, int | None, int | None], None],
        gate: OrderGate,
    ) -> None:
        self.loop = loop
        self.groups = groups
        self.read_merged = read_merged
        self.counts = counts
        self.on_event = on_event
        #: Told what a complete read verified: every row that had arrived before it.
        self.gate = gate
        self.lagging: set[str] = set()
        self.held: deque[HeldEvent] | None = None  # None: not reading

    def hold(self, event: HeldEvent) -> bool:
        """Keep ``event`` back while a read is under way; False when none is."""
        held = self.held
        if held is None:
            return False
        if len(held) < _MAX_HELD:
            held.append(event)
        return True

    def start(self, channel: str) -> None:
        """``channel`` is behind the log: read what every channel missed."""
        self.lagging.add(channel)
        if self.held is None:
            self.held = deque()
            self.loop.create_task(self._run())

    async def _run(self) -> None:
        try:
            while self.lagging:
                self.lagging.clear()
                # Arrived after its commit: on a log numbering rows in commit order, every
                # row up to it is committed, so the read below delivers all of them.
                arrived = self.gate.arrived
                # Every channel, not just the lagging ones: an event of another channel that
                # is still in flight on the layer may precede, in its publisher's order, one
                # the log has for a lagging channel.
                names = sorted(name for name, group in self.groups.items() if not group.joining)
                for start in range(0, len(names), _CHANNELS_PER_READ):
                    await self._read(names[start : start + _CHANNELS_PER_READ])
                self.gate.settle(arrived)
        except Exception as exc:
            logger.warning("reading the event log failed: %s", exc)
            self.lagging.clear()  # the next poll finds them again
            # The database is unwell: do not spin on it.
            await asyncio.sleep(_RETRY_SECONDS)
        finally:
            held, self.held = self.held or deque(), None
            while held:
                # A gap among them starts another read; the rest is held again, in order.
                self.on_event(*held.popleft())

    async def _read(self, names: list[str]) -> None:
        groups = self.groups
        more = True
        while more:
            after = {}
            for name in names:
                group = groups.get(name)
                if group is not None and not group.joining:
                    after[name] = group.last_seq
            if not after:
                return
            events, more = await self.read_merged(after)
            for ev in events:
                group = groups.get(ev.channel)
                if group is not None and not group.joining and ev.seq > group.last_seq:
                    if (
                        ev.seq == group.last_seq + 1
                        and ev.prev_check is not None
                        and group.last_check is not None
                        and ev.prev_check != group.last_check
                    ):
                        # The event before it is not the one delivered here: the log was
                        # restored or emptied, and counted up past where this group was.
                        logger.warning("the event log of %s was rewritten before seq %s", ev.channel, ev.seq)
                        group.rewound(group.head)
                    group.fan_out(ev.seq, ev.event, ev.data, None, ev.check)
                    self.counts.caught_up_events += 1
