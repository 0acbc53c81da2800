"""OrderGate: live events of streams over several channels go out in the log's order.

The log numbers every event across channels (its row, ``EventLog.numbers_rows``), and a
resumed stream replays its channels in that order. Live events arrive in another one
when they come from several processes: a publisher's hand-off to the layer may lag
behind its commit, and with the in-memory layer another process's events come only
through the log poll. So an event of a channel that some stream reads with others
waits while the log may still hold a lower row, of any such channel, that this hub has
not delivered: it reads the rows between what it has verified and what arrived (one
small range query, at once), fetches the few events it lacks, and delivers everything
in row order. Events of channels read only by single-channel streams never wait.

What "verified" means: every event with a row at or below it, of a channel with local
streams, was delivered here. An event arrived here after its commit, so on a database
that numbers rows in commit order (SQLite) every lower row is committed by then and the
range query sees it. On one that draws rows before commit (PostgreSQL) a lower row
whose transaction overlapped goes out when it arrives, after the higher one: each
channel's order holds, and so does the order of publishes that did not overlap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sse.hub.inbox import Arrival
from sse.hub.log_threads import LOG_PAGE
from sse.storage import get_event_log

if TYPE_CHECKING:
    from sse.hub.groups import ChannelGroup
    from sse.hub.stats import Counts
    from sse.storage.base import LoggedEvent
    from sse.wire.cursor import LogPosition

__all__ = ["OrderGate"]

logger = logging.getLogger("sse.hub")

# After a failed read the gate stands open this long: the database is unwell.
_PAUSE_SECONDS = 1.0
# Events held while reading; past it one is let go (its channel then shows a gap, filled from the log).
_MAX_HELD = 10 * LOG_PAGE

type RunInThread = Callable[..., Awaitable[Any]]
type ReadHeads = Callable[[Sequence[str]], Awaitable[dict[str, LogPosition]]]


class OrderGate:
    """One hub's gate. Lives on the hub's loop.

    Given the hub's groups (followed), ``run`` (``LogThreads.run``: a log call off the
    loop), ``deliver``: where events go once their turn comes (the hub's, past this gate).
    """

    __slots__ = ("arrived", "counts", "deliver", "groups", "held", "loop", "open_until", "run", "verified")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        groups: Mapping[str, ChannelGroup],
        run: RunInThread,
        deliver: Callable[[Arrival], None],
        counts: Counts,
    ) -> None:
        self.loop = loop
        self.groups = groups
        self.run = run
        self.deliver = deliver
        self.counts = counts
        #: The highest row that arrived live here.
        self.arrived = 0
        #: Every row up to this one, of a channel with local streams, was delivered (None: not known yet).
        self.verified: int | None = None
        self.held: list[Arrival] | None = None  # None: not reading
        self.open_until = 0.0

    def holds(self, group: ChannelGroup, ev: Arrival) -> bool:
        """Keep ``ev`` (of ``group``) back until the log shows no lower row is missing here."""
        row = ev[6]
        if row is None:
            return False
        if row > self.arrived:
            self.arrived = row
        verified = self.verified
        if verified is None or group.joining or ev[1] <= group.last_seq:
            return False
        if not group.multi:
            if row == verified + 1:
                self.verified = row  # no row between: nothing to read
            return False
        held = self.held
        if held is not None:
            if len(held) < _MAX_HELD:
                held.append(ev)
                return True
            return False
        if row <= verified + 1 or self.loop.time() < self.open_until:
            self.verified = max(verified, row)
            return False
        self.held = [ev]
        self.loop.create_task(self._run())
        return True

    def start_at(self, row: int | None) -> None:
        """The log's last row, read before the heads of the hub's first channels."""
        if self.verified is None and row is not None:
            self.verified = row

    def reading_heads(self, read_heads: ReadHeads) -> ReadHeads:
        """``read_heads`` for joining channels: the hub's first reads the log's last row before."""

        async def read(names: Sequence[str]) -> dict[str, LogPosition]:
            if self.verified is None and get_event_log().numbers_rows:
                row = await self.run(get_event_log().last_row)
                heads = await read_heads(names)
                self.start_at(row)
                return heads
            return await read_heads(names)

        return read

    async def read_row(self) -> int | None:
        """The log's last row, for the poll; None (no read) while no stream reads several channels."""
        if self.verified is None or not any(group.multi for group in self.groups.values()):
            return None
        row: int | None = await self.run(get_event_log().last_row)
        return row

    def settle(self, row: int | None) -> None:
        """Everything up to ``row`` was delivered (the poll found no channel behind; a
        catch-up read everything)."""
        if row is not None and self.verified is not None and row > self.verified:
            self.verified = row

    async def _run(self) -> None:
        try:
            while self.held:
                upto = self.arrived
                missing = await self._missing(upto)
                fetched = await self.run(get_event_log().read_rows, missing) if missing else []
                self._release(upto, fetched)
        except Exception as exc:
            logger.warning("reading the event log's order failed: %s", exc)
            self.open_until = self.loop.time() + _PAUSE_SECONDS
            self.verified = max(self.verified or 0, self.arrived)
        finally:
            held, self.held = self.held or [], None
            held.sort(key=_row)
            for ev in held:
                self.deliver(ev)

    async def _missing(self, upto: int) -> list[int]:
        """Rows up to ``upto`` of channels some stream reads with others, neither delivered nor held."""
        after = self.verified or 0
        in_hand = {(ev[0], ev[1]) for ev in self.held or ()}
        missing = []
        more = True
        while more:
            rows = await self.run(get_event_log().rows, after, upto, LOG_PAGE)
            more = len(rows) >= LOG_PAGE
            for found in rows:
                after = found.row
                group = self.groups.get(found.channel)
                if (
                    group is not None
                    and group.multi
                    and not group.joining
                    and found.seq > group.last_seq
                    and (found.channel, found.seq) not in in_hand
                ):
                    missing.append(found.row)
        return missing

    def _release(self, upto: int, fetched: list[LoggedEvent]) -> None:
        """Up to ``upto`` all is in hand: deliver it in row order; what arrived since waits."""
        held = self.held or []
        ready = [ev for ev in held if (ev[6] or 0) <= upto]
        self.held = [ev for ev in held if (ev[6] or 0) > upto]
        ready += [(ev.channel, ev.seq, ev.event, ev.data, None, ev.check, ev.row) for ev in fetched]
        ready.sort(key=_row)
        self.verified = max(self.verified or 0, upto)
        self.counts.order_reads += 1
        self.counts.caught_up_events += len(fetched)  # what the layer did not bring (yet)
        for ev in ready:
            self.deliver(ev)


def _row(ev: Arrival) -> int:
    return ev[6] or 0
