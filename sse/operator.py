"""What operators see of a server process, and what they may do (public API).

An operator console or a dashboard reads this process's open streams and channels, ends
a stream, and reads the newest events of the event log. The stream and channel calls run
on the hub's loop (in an async view, or a task on ``hub.loop``) and cost nothing while
nobody asks; they default to ``ChannelHub.current()``. Each process sees only its own
streams: a view of every process gathers their reports (the demo's console publishes
them on a channel, and sends disconnects over a layer group: ``sse.layer_groups``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sse.channels.registry import check_access_all, find_pattern
from sse.hub.channel_hub import ChannelHub
from sse.storage import LogTail, TailEvent, get_event_log

__all__ = [
    "OpenChannel",
    "StreamInfo",
    "channel_pattern",
    "disconnect",
    "log_rows",
    "log_tail",
    "open_channels",
    "open_streams",
    "readable",
]


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """One open stream of this process, as it was when read."""

    #: Its number, unique in this process: :func:`disconnect` takes it.
    serial: int
    #: ``str(user.pk)`` of its reader (None: a stream opened for no user).
    user_key: str | None
    channels: tuple[str, ...]
    #: When it opened (wall clock, seconds since the epoch).
    opened_at: float
    #: Bytes its live writes carried (its replay not counted).
    bytes_sent: int
    #: Frames waiting to be written, and for how long the oldest has waited (seconds).
    queued: int
    waiting: float
    #: The id of the last event it was sent: where its client would resume from now.
    last_event_id: str
    #: The client's ``User-Agent`` and the HTTP version it came over (``HTTP/1.1``,
    #: ``HTTP/2``), as it opened; "" when not known (a stream the app opened without them).
    user_agent: str
    transport: str


@dataclass(frozen=True, slots=True)
class OpenChannel:
    """A channel with open streams in this process."""

    channel: str
    #: The open streams on it.
    streams: int
    #: The seq of the last event this process delivered on it.
    last_seq: int
    #: The same object while the process stays on the channel, another after it left
    #: and joined again (its ``last_seq`` then jumps to the log's head: not a burst).
    membership: object


def _hub(hub: ChannelHub | None) -> ChannelHub:
    return ChannelHub.current() if hub is None else hub


def open_streams(hub: ChannelHub | None = None) -> list[StreamInfo]:
    """This process's open streams, in no order (on the hub's loop)."""
    hub = _hub(hub)
    now = hub.loop.time()
    found = []
    for sub in hub.open_streams():
        user_agent, transport = sub.client or ("", "")
        found.append(
            StreamInfo(
                serial=sub.serial,
                user_key=sub.user_key,
                channels=sub.channels,
                opened_at=sub.opened_at,
                bytes_sent=sub.bytes_sent,
                queued=len(sub.frames),
                # 0 with an empty queue: a quiet stream is not a lagging one.
                waiting=max(0.0, now - sub.last_write) if sub.frames else 0.0,
                last_event_id=sub.cursor,
                user_agent=user_agent,
                transport=transport,
            )
        )
    return found


def disconnect(serial: int, reason: str = "disconnected", *, hub: ChannelHub | None = None) -> bool:
    """End stream ``serial`` of this process after what is queued for it; its client
    reconnects and resumes, as after a server restart. False: no such stream here."""
    return _hub(hub).close_stream(serial, reason)


def open_channels(hub: ChannelHub | None = None) -> list[OpenChannel]:
    """The channels this process has open streams on, in no order (on the hub's loop)."""
    groups = list(_hub(hub).groups.items())
    return [OpenChannel(name, len(group.members), group.last_seq, group) for name, group in groups]


async def readable(user: Any, channels: Sequence[str]) -> list[bool]:
    """For each of ``channels``: whether ``user`` may read it by its registered rule (a rule
    that raises, ``ChannelNotFound`` for a private room, and a channel no rule covers: no).
    For views that name channels to some staff only."""
    allowed = await check_access_all(user, channels)
    return [ok is True for ok in allowed]


def channel_pattern(name: str) -> str | None:
    """The registered pattern ``name`` falls under (``chat.room.{slug}``), or None.
    Messages that go to many readers can name the pattern instead of the channel."""
    found = find_pattern(name)
    return None if found is None else found[0].pattern


def log_tail(limit: int, *, after: int = 0, exclude: Sequence[str] = ()) -> LogTail:
    """The newest ``limit`` events of every process's publishes, newest first, stored after
    row ``after``; channels starting with a prefix in ``exclude`` left out. Sync (it reads
    the event log: call it in a thread from async code); needs a log with a tail (the
    default log has one: ``EventLog.tail``)."""
    return get_event_log().tail(limit, after=after, exclude=exclude)


def log_rows(rows: Sequence[int], *, exclude: Sequence[str] = ()) -> list[TailEvent]:
    """The events at ``rows`` still in the log, in no order. Sync. Row numbers are given in
    insert order, and a row may commit after a higher one: a tail reader looks again at
    the rows it skipped."""
    return get_event_log().tail_rows(rows, exclude=exclude)
