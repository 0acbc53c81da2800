"""Resuming a stream: where its Last-Event-ID says it was, and the replay from the log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Hashable

from sse.cursor import InvalidCursor, LogPosition, channel_tag, parse_cursor
from sse.encoding import encode_body, encode_id, encode_reset
from sse.hub import ChannelHub
from sse.registry import ChannelPattern, is_ephemeral, throttled_pattern
from sse.storage.base import LoggedEvent
from sse.subscriber import CHUNK_BYTES, Subscriber

__all__ = ["ResumePlan", "plan_resume", "replay"]

_REPLAY_PAGE = 500


class ResumePlan:
    __slots__ = ("replay", "reset")

    def __init__(self, reset: str | None, replay: bool) -> None:
        self.reset = reset
        self.replay = replay


async def plan_resume(hub: ChannelHub, sub: Subscriber, resume_from: str | None) -> ResumePlan:
    # Subscribed, so the log was read and its name is known: the ids of this stream carry it.
    sub.tag = channel_tag(sub.channels)
    # The heads as this hub delivered them, with their events' checks: no query.
    live = [hub.head(name) for name in sub.channels]
    if resume_from is None:
        sub.start_at(live)
        return ResumePlan(None, False)
    try:
        given = parse_cursor(resume_from, sub.tag, len(sub.channels))
    except InvalidCursor as exc:
        sub.start_at(live)
        return ResumePlan(str(exc), False)
    reset = await _cannot_vouch(hub, sub.channels, given)
    if reset is not None:
        sub.start_at(live)
        return ResumePlan(reset, False)
    sub.start_at([head if at is None else at for at, head in zip(given, live, strict=True)])
    return ResumePlan(None, True)


async def _cannot_vouch(
    hub: ChannelHub, channels: tuple[str, ...], given: list[LogPosition | None]
) -> str | None:
    """Why the log cannot resume a client at ``given`` (None: ``*``, a channel it starts at
    its head), or None when it can: every position is in the log, not trimmed past, and
    the event the log holds there is the one the client had (its check is the id's)."""
    heads, firsts = await hub.log.bounds(channels)
    had = [(name, at) for name, at in zip(channels, given, strict=True) if at is not None]
    for name, at in had:
        head = heads[name]
        if at.seq > head.seq:
            return "unknown-id"
        kept_from = firsts.get(name, head.seq + 1)
        if not is_ephemeral(name) and at.seq < kept_from - 1:
            return "expired"
    # A position behind its head is vouched for by the event there, or by the one after it
    # (which keeps its predecessor's check): one read, only for clients that missed events.
    behind = {name: at.seq for name, at in had if 0 < at.seq < heads[name].seq}
    checks = await hub.log.checks_at(behind) if behind else {}
    for name, at in had:
        if at.seq == 0:
            continue  # it had nothing of this channel: whatever the log holds is new to it
        if at.seq == heads[name].seq:
            check = heads[name].check
        elif name in checks:
            check = checks[name]
        elif is_ephemeral(name):
            continue  # only the latest event is kept, and a resume sends just that
        else:
            return "expired"  # trimmed since the bounds were read
        if at.check != check:
            # Another event stands at that seq now: the log was restored from a backup or
            # emptied, and numbered new events again. Without a check, the id is from before
            # checks (or made up): the log cannot tell, so it does not guess.
            return "restored" if at.check is not None else "unknown-id"
    return None


async def replay(hub: ChannelHub, sub: Subscriber) -> AsyncIterator[bytes]:
    """What the stream missed, its channels merged in the order the events were published.

    Throttled channels come last, conflated: the latest of what was missed (per key),
    which is what a connected stream has after its throttle's last window.
    """
    throttled = {name: pattern for name in sub.channels if (pattern := throttled_pattern(name)) is not None}
    if len(throttled) < len(sub.channels):
        async for chunk in _replay_merged(hub, sub, [n for n in sub.channels if n not in throttled]):
            yield chunk
    for name, pattern in throttled.items():
        if sub.closed:
            return
        frames = await _replay_conflated(hub, sub, sub.channels.index(name), pattern)
        for start in range(0, len(frames), 64):
            yield b"".join(frames[start : start + 64])


async def _replay_merged(hub: ChannelHub, sub: Subscriber, names: list[str]) -> AsyncIterator[bytes]:
    index = {name: i for i, name in enumerate(sub.channels)}
    ephemeral = [is_ephemeral(name) for name in sub.channels]
    more = True
    while more and not sub.closed:
        # Pages of about a megabyte, chunks of about CHUNK_BYTES: a long
        # replay of large events never sits in memory at once.
        after = {name: sub.positions[index[name]] for name in names}
        # Streams resuming from the same place share the read and the encoded bodies.
        page = await hub.log.read_replay_page(after, _REPLAY_PAGE)
        more = page.more
        frames: list[bytes] = []
        size = 0
        for ev, body in zip(page.events, page.bodies, strict=True):
            i = index[ev.channel]
            if ev.seq <= sub.positions[i]:
                continue
            if ev.seq != sub.positions[i] + 1 and not ephemeral[i]:
                # Trimmed between the plan and this read: say so, as for an old id.
                frames.append(encode_reset(sub.cursor, "expired"))
            sub.positions[i] = ev.seq
            sub.checks[i] = ev.check
            frame = encode_id(sub.cursor) + body
            frames.append(frame)
            size += len(frame)
            if ev.event in sub.end_after:
                sub.close("ended", drop_queued=True)
                more = False
                break
            if size >= CHUNK_BYTES:
                yield b"".join(frames)
                frames, size = [], 0
        if frames:
            yield b"".join(frames)


async def _replay_conflated(hub: ChannelHub, sub: Subscriber, i: int, pattern: ChannelPattern) -> list[bytes]:
    """The frames of channel ``i``'s missed events, the latest per conflation key only."""
    name = sub.channels[i]
    key_of = pattern.conflation_key
    latest: dict[Hashable, LoggedEvent] = {}
    gap = False
    after = sub.positions[i]
    more = True
    while more:
        events, more = await hub.log.read_page(name, after, _REPLAY_PAGE)
        for ev in events:
            if ev.seq != after + 1 and not pattern.ephemeral:
                gap = True  # trimmed between the plan and this read
            after = ev.seq
            key = None if key_of is None else key_of(ev.event, ev.data)
            if latest.pop(key, None) is not None:
                hub.counts.conflated += 1
            latest[key] = ev  # moved to the end: the survivors stay in publish order
    frames = [encode_reset(sub.cursor, "expired")] if gap else []
    for ev in latest.values():
        sub.positions[i] = ev.seq
        sub.checks[i] = ev.check
        frames.append(encode_id(sub.cursor) + encode_body(ev.event, ev.data))
        if ev.event in sub.end_after:
            sub.close("ended", drop_queued=True)
            break
    return frames
