"""The event log's interface (public through ``sse.storage``): what a backend implements, what it returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sse.wire.cursor import LogPosition

__all__ = ["ChannelSummary", "EventLog", "LogPosition", "LogRow", "LogTail", "LoggedEvent", "TailEvent"]


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    channel: str
    seq: int
    event: str | None
    data: str
    #: The check drawn for this event, and the one of the event before it (None: not kept).
    check: int | None = None
    prev_check: int | None = None
    #: Its number across channels (``EventLog.numbers_rows``), None where not read.
    row: int | None = None


@dataclass(frozen=True, slots=True)
class LogRow:
    """Where an event stands in the log: its number across channels, its channel and seq."""

    row: int
    channel: str
    seq: int


@dataclass(frozen=True, slots=True)
class ChannelSummary:
    """What the log keeps of one channel."""

    channel: str
    events_kept: int
    last_seq: int
    last_event_at: datetime | None


@dataclass(frozen=True, slots=True)
class TailEvent:
    """An event as the log's tail shows it to operators."""

    #: The log's number for the event, in the order events were stored (row ids need not
    #: commit in order: one may appear after a higher one was read).
    row: int
    channel: str
    seq: int
    event: str | None
    data: str
    created: datetime


@dataclass(frozen=True, slots=True)
class LogTail:
    """The newest events of the log after a row (``EventLog.tail``)."""

    #: Newest first.
    events: list[TailEvent]
    #: Older events after the row asked from that did not fit in ``limit`` (0 when all did).
    left_out: int


class EventLog(ABC):
    """Storage for published events. Sync API: callers wrap it for async use.

    ``append`` runs inside the caller's transaction where there is one, so an
    event whose transaction rolls back is never logged, and per channel the
    sequence order is the commit order.
    """

    #: Other processes on this machine can read what this process appended.
    shared_between_processes: bool = True

    #: The log keeps each event's check (``append`` is given ``check=``, ``positions``,
    #: ``checks_at`` and the events read return it): ids then name the event they stand
    #: on, and a log restored from a backup or emptied gives ``reset``, not a silent skip.
    keeps_checks: bool = False

    #: The log numbers every event across channels in the order ``read_merged`` gives them
    #: (a row: ``append_numbered``, ``last_row``, ``rows``, ``read_rows``): a hub then sends
    #: live events of a stream's several channels in that order too.
    numbers_rows: bool = False

    @abstractmethod
    def append(
        self, channel: str, event: str | None, data: str, *, ephemeral: bool, check: int | None = None
    ) -> int:
        """Store one event and return its sequence number on ``channel`` (1, 2, ...).

        ``check``: given only to a log that ``keeps_checks`` (others may leave the argument
        out), an int drawn for this event, to keep with it and as the next event's
        ``prev_check``.
        """

    def append_numbered(
        self, channel: str, event: str | None, data: str, *, ephemeral: bool, check: int | None = None
    ) -> tuple[int, int | None]:
        """As ``append``; with the seq, the event's row (None: a log that ``numbers_rows`` not)."""
        if check is None:
            return self.append(channel, event, data, ephemeral=ephemeral), None
        return self.append(channel, event, data, ephemeral=ephemeral, check=check), None

    def last_row(self) -> int | None:
        """The highest row stored (0: none yet; None: a log that does not number rows)."""
        return None

    def rows(self, after: int, upto: int, limit: int) -> list[LogRow]:
        """Where the events with rows in (``after``, ``upto``] stand, by row; at most ``limit``."""
        raise NotImplementedError(f"{type(self).__name__} does not number rows")

    def read_rows(self, rows: Sequence[int]) -> list[LoggedEvent]:
        """The events at ``rows`` still kept, with their rows, in no order."""
        raise NotImplementedError(f"{type(self).__name__} does not number rows")

    @abstractmethod
    def heads(self, channels: Iterable[str]) -> dict[str, int]:
        """The last sequence number of each channel (0 when nothing was published)."""

    def positions(self, channels: Iterable[str]) -> dict[str, LogPosition]:
        """The last event of each channel, with its check: ``heads`` and, in the same
        read, the check of each head's event (kept when retention trims the event).
        The default, for logs that keep no checks: the heads, without checks."""
        return {name: LogPosition(seq) for name, seq in self.heads(channels).items()}

    def checks_at(self, points: Mapping[str, int]) -> dict[str, int | None]:
        """The check of event ``seq`` of each channel in ``points`` (``{channel: seq}``,
        seq >= 1), where the log can still tell: from the event, from the one after it
        (its ``prev_check``) or from the channel's head. Channels it cannot tell for
        (both events trimmed) are left out. The default, for logs that keep no checks:
        None for every one (ids carry none either)."""
        return dict.fromkeys(points)

    @abstractmethod
    def first_seqs(self, channels: Iterable[str]) -> dict[str, int]:
        """The oldest sequence number still kept per channel (absent: none kept)."""

    @abstractmethod
    def read(self, channel: str, after: int, limit: int) -> list[LoggedEvent]:
        """Events of ``channel`` with seq > ``after``, oldest first."""

    def read_merged(self, after: Mapping[str, int], limit: int) -> list[LoggedEvent]:
        """Events of several channels, each with seq > its ``after``, in the order they were
        published: what one publisher published one after the other (or in one transaction)
        comes in that order across channels. At most ``limit``.

        The default suits logs without an order across channels: a channel at a time.
        """
        for channel, seq in after.items():
            events = self.read(channel, seq, limit)
            if events:
                return events
        return []

    def identity(self) -> str:
        """A short name of this log ([0-9a-z], at most 8), made with it and kept with it, so
        ids minted on a log since recreated are refused; '' when the backend keeps none.
        May read storage the first time: call it where blocking is allowed."""
        return ""

    def known_identity(self) -> str | None:
        """What ``identity()`` returns when that needs no read of storage now, else None (never blocks)."""
        return self.identity()  # the default keeps no name: nothing to read

    def setup_problem(self) -> str | None:
        """Why this log cannot work in this project yet, naming the fix (its tables were
        never created: ``manage.py migrate``), or ``None``. Sync, may query: the stream
        endpoint asks before its first stream, ``manage.py check --database`` (``sse.W011``)
        too. The default: nothing to set up."""
        return None

    @abstractmethod
    def trim(self, *, max_age_seconds: float, max_events_per_channel: int) -> int:
        """Delete events past retention; return how many went."""

    def published_total(self) -> int:
        """Events ever published, on every channel (optional: for operators' figures)."""
        raise NotImplementedError(f"{type(self).__name__} does not count published events")

    def channel_summaries(self) -> list[ChannelSummary]:
        """One summary per channel with events kept, by name (optional: for operators' reports)."""
        raise NotImplementedError(f"{type(self).__name__} does not summarise its channels")

    def tail(self, limit: int, *, after: int = 0, exclude: Sequence[str] = ()) -> LogTail:
        """The newest ``limit`` events stored after row ``after``, of every channel but those
        starting with a prefix in ``exclude`` (optional: for operators' views of the log)."""
        raise NotImplementedError(f"{type(self).__name__} has no tail")

    def tail_rows(self, rows: Iterable[int], *, exclude: Sequence[str] = ()) -> list[TailEvent]:
        """The events at ``rows`` still kept (not in ``exclude``), in no order (optional: a
        tail reader looks again at rows it skipped, which may commit late)."""
        raise NotImplementedError(f"{type(self).__name__} has no tail")

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once what ``append`` wrote is committed."""
        callback()

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Release connections held by the calling thread."""
