"""Resuming a stream: where its Last-Event-ID says it was, and the replay from the log."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sse.cursor import InvalidCursor, channel_tag, parse_cursor
from sse.encoding import encode_body, encode_id, encode_reset
from sse.hub import ChannelHub
from sse.registry import is_ephemeral
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
    live = [hub.head(name) for name in sub.channels]
    if resume_from is None:
        sub.positions = live
        return ResumePlan(None, False)
    try:
        seqs = parse_cursor(resume_from, sub.tag, len(sub.channels))
    except InvalidCursor as exc:
        sub.positions = live
        return ResumePlan(str(exc), False)
    heads = await hub.log.heads(sub.channels)
    firsts = await hub.log.first_seqs(sub.channels)
    for name, seq in zip(sub.channels, seqs, strict=True):
        if seq > heads[name]:
            sub.positions = live
            return ResumePlan("unknown-id", False)
        kept_from = firsts.get(name, heads[name] + 1)
        if not is_ephemeral(name) and seq < kept_from - 1:
            sub.positions = live
            return ResumePlan("expired", False)
    sub.positions = seqs
    return ResumePlan(None, True)


async def replay(hub: ChannelHub, sub: Subscriber) -> AsyncIterator[bytes]:
    """What the stream missed, its channels merged in the order the events were published."""
    index = {name: i for i, name in enumerate(sub.channels)}
    ephemeral = [is_ephemeral(name) for name in sub.channels]
    more = True
    while more and not sub.closed:
        # Pages of about a megabyte, chunks of about CHUNK_BYTES: a long
        # replay of large events never sits in memory at once.
        after = dict(zip(sub.channels, sub.positions, strict=True))
        events, more = await hub.log.read_merged_page(after, _REPLAY_PAGE)
        frames: list[bytes] = []
        size = 0
        for ev in events:
            i = index[ev.channel]
            if ev.seq <= sub.positions[i]:
                continue
            if ev.seq != sub.positions[i] + 1 and not ephemeral[i]:
                # Trimmed between the plan and this read: say so, as for an old id.
                frames.append(encode_reset(sub.cursor, "expired"))
            sub.positions[i] = ev.seq
            frame = encode_id(sub.cursor) + encode_body(ev.event, ev.data)
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
