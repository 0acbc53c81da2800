"""A stream's state first: events that stand for its channels up to a position, then live events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sse.hub.subscriber import Subscriber
from sse.wire.cursor import LogPosition
from sse.wire.encoding import Event, encode_event, encode_id

__all__ = ["FirstEvents", "FirstEventsHook", "first_events"]


@dataclass(frozen=True, slots=True)
class FirstEvents:
    """What a stream sends first in place of "from now on": events that stand for the state
    of its channels up to ``positions`` (one log seq per channel, read *after* the state).

    Live events at or below ``positions`` are dropped, so an event published between the
    subscription and the state read is neither lost nor sent twice; but an event named in
    the stream's ``end_after`` always goes out and ends it.
    """

    #: One per channel: a ``LogPosition`` (``EventLog.positions()`` reads them: the seq
    #: with its event's check, which the stream's ids carry), or a bare seq (no check: a
    #: client resuming from an id at that seq gets ``reset``, as the log cannot vouch for it).
    positions: Sequence[LogPosition | int]
    events: Sequence[Event]


FirstEventsHook = Callable[[], Awaitable[FirstEvents]]


def first_events(sub: Subscriber, first: FirstEvents) -> bytes:
    if len(first.positions) != len(sub.channels):
        raise ValueError(f"FirstEvents.positions needs one seq per channel ({len(sub.channels)})")
    # Never behind what the stream was already at: live events below are not held for it.
    given = [p if isinstance(p, LogPosition) else LogPosition(p) for p in first.positions]
    had = [LogPosition(seq, check) for seq, check in zip(sub.positions, sub.checks, strict=True)]
    sub.start_at([b if b.seq > a.seq else a for a, b in zip(had, given, strict=True)])
    cursor = sub.cursor
    frames = []
    for event in first.events:
        frames.append(encode_event(Event(data=event.data, event=event.event, id=cursor)))
        if event.event in sub.end_after:
            sub.close("ended", drop_queued=True)
            break
    return b"".join(frames) or encode_id(cursor) + b"\n"
