"""Resuming a stream: where its Last-Event-ID says it was, and the replay from the log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Hashable
from contextlib import aclosing

from sse.channels.registry import ChannelPattern, is_ephemeral, throttled_pattern
from sse.hub.channel_hub import ChannelHub
from sse.hub.log_threads import ReplayPage
from sse.hub.replay_budget import ReplayTicket
from sse.hub.subscriber import CHUNK_BYTES, Subscriber
from sse.storage import current_log_id
from sse.storage.base import LoggedEvent
from sse.wire.cursor import InvalidCursor, LogPosition, channel_tag, parse_cursor
from sse.wire.encoding import encode_body, encode_id, encode_reset

__all__ = ["ResumePlan", "plan_resume", "replay"]

_REPLAY_PAGE = 500
# A replay's first page: what most resumes miss (a blip, a restart) fits in it, and it is
# read at once, shared by the streams resuming from the same place. Any page after that
# waits for the replay's turn (sse/hub/replay_budget.py). Bytes of event data.
_FIRST_PAGE_BYTES = 32 * 1024
_PAGE_BYTES = 128 * 1024


class ResumePlan:
    __slots__ = ("replay", "reset")

    def __init__(self, reset: str | None, replay: bool) -> None:
        self.reset = reset
        self.replay = replay


async def plan_resume(hub: ChannelHub, sub: Subscriber, resume_from: str | None) -> ResumePlan:
    # Subscribed, so the log was read and its name is known: the ids of this stream carry it.
    sub.tag = channel_tag(sub.channels, current_log_id())
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


async def replay(hub: ChannelHub, sub: Subscriber) -> AsyncGenerator[bytes, None]:
    """What the stream missed, its channels merged in the order the events were published.

    Throttled channels come last, conflated: the latest of what was missed (per key),
    which is what a connected stream has after its throttle's last window.

    A replay that needs more than its first page takes turns with the others
    (sse/hub/replay_budget.py): it may wait, sending heartbeats, before its second page.
    """
    ticket = hub.replays.ticket(sub.user_key)
    try:
        throttled = {
            name: pattern for name in sub.channels if (pattern := throttled_pattern(name)) is not None
        }
        if len(throttled) < len(sub.channels):
            names = [n for n in sub.channels if n not in throttled]
            async with aclosing(_replay_merged(hub, sub, names, ticket)) as chunks:
                async for chunk in chunks:
                    yield chunk
        for name, pattern in throttled.items():
            if sub.closed:
                return
            frames: list[bytes] = []
            async with aclosing(
                _replay_conflated(hub, sub, sub.channels.index(name), pattern, ticket, frames)
            ) as beats:
                async for beat in beats:
                    yield beat
            for start in range(0, len(frames), 64):
                yield b"".join(frames[start : start + 64])
    finally:
        ticket.leave()


async def _next_page_allowed(sub: Subscriber, ticket: ReplayTicket) -> AsyncGenerator[bytes, None]:
    """Before a replay's second page: its turn (heartbeats while it waits)."""
    if not ticket.admitted:
        async with aclosing(ticket.admit(sub)) as beats:
            async for beat in beats:
                yield beat


async def _replay_merged(
    hub: ChannelHub, sub: Subscriber, names: list[str], ticket: ReplayTicket
) -> AsyncGenerator[bytes, None]:
    index = {name: i for i, name in enumerate(sub.channels)}
    ephemeral = [is_ephemeral(name) for name in sub.channels]
    more = True
    first = True
    while more and not sub.closed:
        # Small pages, chunks of about CHUNK_BYTES: a long replay never sits in memory at
        # once. Past the first page, in turn with the other replays (sse/hub/replay_budget.py).
        after = {name: sub.positions[index[name]] for name in names}
        if first:
            # Streams resuming from the same place share the read and the encoded bodies.
            page = await hub.log.read_replay_page(after, _REPLAY_PAGE, _FIRST_PAGE_BYTES)
            chunks, more = _page_chunks(sub, page, index, ephemeral)
            first = False
        else:
            async with aclosing(_next_page_allowed(sub, ticket)) as beats:
                async for beat in beats:
                    yield beat
            if sub.closed:
                return
            async with hub.replays.lane(hub.loop):
                page = await hub.log.read_replay_page(after, _REPLAY_PAGE, _PAGE_BYTES)
                chunks, more = _page_chunks(sub, page, index, ephemeral)
        del page
        while chunks:
            yield chunks.pop(0)
            # A send that did not have to wait did not give the loop back: do it here.
            await asyncio.sleep(0)


def _page_chunks(
    sub: Subscriber, page: ReplayPage, index: dict[str, int], ephemeral: list[bool]
) -> tuple[list[bytes], bool]:
    """A page's frames for ``sub``, joined into chunks of about CHUNK_BYTES; whether more may follow.

    Moves ``sub.positions`` past the page: the chunks must all be sent before the stream goes on.
    """
    chunks: list[bytes] = []
    frames: list[bytes] = []
    size = 0
    for (channel, seq, event, check), body in zip(page.events, page.bodies, strict=True):
        i = index[channel]
        if seq <= sub.positions[i]:
            continue
        if seq != sub.positions[i] + 1 and not ephemeral[i]:
            # Trimmed between the plan and this read: say so, as for an old id.
            frames.append(encode_reset(sub.cursor, "expired"))
        sub.positions[i] = seq
        sub.checks[i] = check
        frame = encode_id(sub.cursor) + body
        frames.append(frame)
        size += len(frame)
        if event in sub.end_after:
            sub.close("ended", drop_queued=True)
            chunks.append(b"".join(frames))
            return chunks, False
        if size >= CHUNK_BYTES:
            chunks.append(b"".join(frames))
            frames, size = [], 0
    if frames:
        chunks.append(b"".join(frames))
    return chunks, page.more


async def _replay_conflated(
    hub: ChannelHub,
    sub: Subscriber,
    i: int,
    pattern: ChannelPattern,
    ticket: ReplayTicket,
    frames: list[bytes],
) -> AsyncGenerator[bytes, None]:
    """Into ``frames``, those of channel ``i``'s missed events, the latest per conflation key
    only; yields heartbeats while its turn for a second page comes."""
    name = sub.channels[i]
    latest = _Conflated(hub, pattern, sub.positions[i])
    more = True
    first = True
    while more:
        if first:
            events, more = await hub.log.read_page(name, latest.after, _REPLAY_PAGE)
            first = False
        else:
            async with aclosing(_next_page_allowed(sub, ticket)) as beats:
                async for beat in beats:
                    yield beat
            if sub.closed:
                return
            async with hub.replays.lane(hub.loop):
                events, more = await hub.log.read_page(name, latest.after, _REPLAY_PAGE)
        latest.add(events)
    if latest.gap:
        frames.append(encode_reset(sub.cursor, "expired"))
    for ev in latest.events.values():
        sub.positions[i] = ev.seq
        sub.checks[i] = ev.check
        frames.append(encode_id(sub.cursor) + encode_body(ev.event, ev.data))
        if ev.event in sub.end_after:
            sub.close("ended", drop_queued=True)
            break


class _Conflated:
    """A throttled channel's missed events as they are read: the latest per conflation key."""

    __slots__ = ("after", "events", "gap", "hub", "pattern")

    def __init__(self, hub: ChannelHub, pattern: ChannelPattern, after: int) -> None:
        self.hub = hub
        self.pattern = pattern
        self.after = after  # the last seq read
        self.events: dict[Hashable, LoggedEvent] = {}
        self.gap = False  # events trimmed between the plan and a read

    def add(self, page: list[LoggedEvent]) -> None:
        key_of = self.pattern.conflation_key
        for ev in page:
            if ev.seq != self.after + 1 and not self.pattern.ephemeral:
                self.gap = True
            self.after = ev.seq
            key = None if key_of is None else key_of(ev.event, ev.data)
            if self.events.pop(key, None) is not None:
                self.hub.counts.conflated += 1
            self.events[key] = ev  # moved to the end: the survivors stay in publish order
