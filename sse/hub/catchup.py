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
from typing import TYPE_CHECKING

from sse.hub.log_threads import LOG_PAGE

if TYPE_CHECKING:
    from sse.hub.channel_hub import ChannelHub

__all__ = ["CatchUp"]

logger = logging.getLogger("sse.hub")

_RETRY_SECONDS = 1.0
# Channels read in one merged query at most (an OR per channel: databases bound its size).
_CHANNELS_PER_READ = 200
# Events held while reading; what is left out is in the log and found by the next read.
_MAX_HELD = 10 * LOG_PAGE

HeldEvent = tuple[str, int, str | None, str, float | None, int | None]


class CatchUp:
    """One hub's reads of missed events. Lives on the hub's loop."""

    __slots__ = ("held", "hub", "lagging")

    def __init__(self, hub: ChannelHub) -> None:
        self.hub = hub
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
            self.hub.loop.create_task(self._run())

    async def _run(self) -> None:
        hub = self.hub
        try:
            while self.lagging:
                self.lagging.clear()
                # Every channel, not just the lagging ones: an event of another channel that
                # is still in flight on the layer may precede, in its publisher's order, one
                # the log has for a lagging channel.
                names = sorted(name for name, group in hub.groups.items() if not group.joining)
                for start in range(0, len(names), _CHANNELS_PER_READ):
                    await self._read(names[start : start + _CHANNELS_PER_READ])
        except Exception as exc:
            logger.warning("reading the event log failed: %s", exc)
            self.lagging.clear()  # the next poll finds them again
            # The database is unwell: do not spin on it.
            await asyncio.sleep(_RETRY_SECONDS)
        finally:
            held, self.held = self.held or deque(), None
            while held:
                # A gap among them starts another read; the rest is held again, in order.
                hub.on_event(*held.popleft())

    async def _read(self, names: list[str]) -> None:
        hub = self.hub
        more = True
        while more:
            after = {}
            for name in names:
                group = hub.groups.get(name)
                if group is not None and not group.joining:
                    after[name] = group.last_seq
            if not after:
                return
            events, more = await hub.log.read_merged_page(after)
            for ev in events:
                group = hub.groups.get(ev.channel)
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
                    hub.counts.caught_up_events += 1
