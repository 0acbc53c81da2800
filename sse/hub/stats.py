"""What a hub reports about itself: :class:`HubStats`, and the counters behind it."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sized
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sse.channels.registry import check_access_all

__all__ = ["Counts", "HubStats", "figures", "visible_to"]


@dataclass(slots=True)
class Counts:
    """Running totals since the hub started (only its loop writes them)."""

    #: Events taken in, once per channel (from the layer, this process or the log).
    received: int = 0
    #: Events queued to streams: one per stream per event.
    delivered: int = 0
    #: Events a gap, a poll or the order gate (sse.hub.order) had to read from the log.
    caught_up_events: int = 0
    #: Streams closed because their client fell too far behind (it resumes).
    slow_disconnects: int = 0
    layer_errors: int = 0
    #: Streams opened with an id that was replayed from.
    resumes: int = 0
    #: Streams opened with an id that could not be resumed (sent ``reset``).
    resets: int = 0
    #: Events of throttled channels replaced by a later one (or dropped, ``leading``), once
    #: per channel throttle: never sent to the streams that throttle serves.
    conflated: int = 0
    #: Channels found rewound in the log (restored from a backup, or emptied): their streams ended.
    log_rewinds: int = 0
    #: Reads of the log's rows so that live events of several channels went out in its order.
    order_reads: int = 0


@dataclass(frozen=True, slots=True)
class HubStats:
    """One process's streams and totals; :meth:`sse.ChannelHub.stats` takes them on the hub's loop."""

    streams: int
    #: Open streams per channel (a stream of two channels counts on both).
    streams_by_channel: dict[str, int] = field(hash=False)
    groups: int
    queued_frames: int
    queued_bytes: int
    users: int
    layer_members: int
    received: int
    delivered: int
    caught_up_events: int
    slow_disconnects: int
    layer_errors: int
    resumes: int
    resets: int
    conflated: int


class _Queue(Protocol):
    @property
    def frames(self) -> Sized: ...
    @property
    def nbytes(self) -> int: ...


class _Group(Protocol):
    @property
    def members(self) -> Sized: ...


def figures(
    counts: Counts, streams: Collection[_Queue], groups: Mapping[str, _Group], users: int, layer_members: int
) -> HubStats:
    """A hub's figures: its totals, its open ``streams`` and channel ``groups`` now."""
    return HubStats(
        streams=len(streams),
        streams_by_channel={name: len(g.members) for name, g in sorted(groups.items())},
        groups=len(groups),
        queued_frames=sum(len(s.frames) for s in streams),
        queued_bytes=sum(s.nbytes for s in streams),
        users=users,
        layer_members=layer_members,
        received=counts.received,
        delivered=counts.delivered,
        caught_up_events=counts.caught_up_events,
        slow_disconnects=counts.slow_disconnects,
        layer_errors=counts.layer_errors,
        resumes=counts.resumes,
        resets=counts.resets,
        conflated=counts.conflated,
    )


async def visible_to(user: Any, stats: HubStats) -> HubStats:
    """``stats`` as ``user`` may see them: ``streams_by_channel`` keeps only the channels
    ``user`` may read by their registered rules (a rule that raises, such as
    ``ChannelNotFound`` for a private room, is a no), so a name never reaches someone who could
    not open a stream on it. The totals are left as they are: they name nothing."""
    names = list(stats.streams_by_channel)
    allowed = await check_access_all(user, names) if names else []
    counts = stats.streams_by_channel
    readable = {name: counts[name] for name, ok in zip(names, allowed, strict=True) if ok is True}
    return replace(stats, streams_by_channel=readable)
