"""Event ids, for apps that send a stream's first events themselves (public API).

An id is a stream's cursor: its channels' fingerprint and the log's name, then one
position per channel (``sse.wire.cursor`` has the format). A view that answers with
events of its own (``sse.EventStreamResponse``, or ``sse.stream_response(first=...)``
reading the state it stands for) stamps them with :func:`event_id`, and reads back
where a client was with :func:`read_event_id`, so what it sends resumes exactly like
the hub's own events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sse.storage import current_log_id
from sse.wire.cursor import InvalidCursor, LogPosition, channel_tag, format_cursor, parse_cursor

__all__ = ["LogPosition", "event_id", "read_event_id"]


def event_id(positions: Mapping[str, LogPosition | int]) -> str:
    """The id of a stream over ``positions``' channels standing at those positions.

    Each position is a :class:`LogPosition` (``EventLog.positions()`` reads them: the seq
    with its event's check) or a bare seq (no check: a client resuming from it gets
    ``reset`` where the log keeps checks). The channels are the stream's, in any order.
    """
    names = sorted(positions)
    given = [positions[name] for name in names]
    seqs = [p.seq if isinstance(p, LogPosition) else p for p in given]
    checks = [p.check if isinstance(p, LogPosition) else None for p in given]
    return format_cursor(channel_tag(names, current_log_id()), seqs, checks)


def read_event_id(value: str, channels: Sequence[str]) -> dict[str, LogPosition | None] | None:
    """Where an id (a client's ``Last-Event-ID``) says a stream over ``channels`` was: one
    position per channel (None: the client wrote ``*``, start that channel at its head).

    None when ``value`` is no id of these channels on this event log (malformed, another
    stream's, or minted on a log since recreated).
    """
    names = sorted(set(channels))
    try:
        found = parse_cursor(value, channel_tag(names, current_log_id()), len(names))
    except InvalidCursor:
        return None
    return dict(zip(names, found, strict=True))
