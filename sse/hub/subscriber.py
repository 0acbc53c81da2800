"""Subscriber: one open stream's channels, its position on each, and its bounded queue."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from sse.conf import conf
from sse.storage import current_log_id
from sse.wire.cursor import LogPosition, channel_tag, format_cursor
from sse.wire.encoding import HEARTBEAT, encode_id, encode_retry

if TYPE_CHECKING:
    from sse.auth.identity import StreamIdentity
    from sse.hub.parts import StreamParts

__all__ = ["CHUNK_BYTES", "Subscriber"]

# A backlog is written in chunks of about this size, so the server's write buffer
# holds little beyond the bounded queue.
CHUNK_BYTES = 64 * 1024


class Subscriber:
    """One open stream. Lives on the hub's loop; the hub offers it events in seq order.

    ``identity``: whose session and password the stream stands on (sse.auth.revocation
    checks them); ``check_rules``: re-run the channels' registered rules while open (they
    admitted the stream); ``end_after``: the stream ends after sending an event of one of
    these names. ``credential_deadline``: the ``deadline`` is when the stream's credential
    expires (the hub ends it with a ``retry:``).
    """

    __slots__ = (
        "bytes_sent",
        "channels",
        "check_rules",
        "checks",
        "client",
        "close_reason",
        "closed",
        "counts",
        "credential_deadline",
        "deadline",
        "end_after",
        "frames",
        "held",
        "held_bytes",
        "identity",
        "last_write",
        "loop",
        "max_bytes",
        "max_frames",
        "nbytes",
        "opened_at",
        "positions",
        "replaying",
        "serial",
        "suspended",
        "tag",
        "user_key",
        "waiter",
    )

    def __init__(
        self,
        parts: StreamParts,
        channels: tuple[str, ...],
        user_key: str | None,
        end_after: frozenset[str] = frozenset(),
        identity: StreamIdentity | None = None,
        check_rules: bool = False,
    ) -> None:
        self.loop, self.counts = parts.loop, parts.counts  # one by one, not the parts: read per frame
        self.channels = channels
        self.tag = channel_tag(channels, current_log_id())
        self.user_key = user_key
        self.identity = identity
        self.check_rules = check_rules
        self.end_after = end_after
        self.positions = [0] * len(channels)
        #: The check of the event at each position (None: seq 0, or none known): ids carry them.
        self.checks: list[int | None] = [None] * len(channels)
        self.frames: list[bytes] = []
        self.nbytes = 0
        # Read when the stream opens: push() reads slots, not settings (later changes: later streams).
        self.max_frames, self.max_bytes = conf.SSE_QUEUE_MAX_FRAMES, conf.SSE_QUEUE_MAX_BYTES
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.close_reason: str | None = None
        # Live events wait here during its replay and access re-checks (sse.auth.access_changes).
        self.held: list[tuple[int, int, int | None, str | None, bytes]] | None = []
        self.held_bytes = 0
        self.replaying = True
        self.suspended = False
        self.last_write = self.loop.time()
        self.deadline: float | None = None
        self.credential_deadline = False
        # For operators (read-only elsewhere): its number here, when it opened (wall clock), live bytes sent.
        self.serial = next(parts.serials)
        self.opened_at = time.time()
        self.bytes_sent = 0
        #: (User-Agent, HTTP version) of the request that opened it, when known (sse.operator).
        self.client: tuple[str, str] | None = None

    @property
    def cursor(self) -> str:
        return format_cursor(self.tag, self.positions, self.checks)

    def start_at(self, positions: list[LogPosition]) -> None:
        """Stand at ``positions`` (one per channel, with the checks of their events)."""
        self.positions = [p.seq for p in positions]
        self.checks = [p.check for p in positions]

    def set_deadline(self, expires_at: float | None) -> None:
        """End after ``SSE_MAX_LIFETIME_SECONDS`` (less a jitter), or when the credential it
        opened with expires (``expires_at``, seconds since the epoch), if sooner."""
        lifetime = conf.SSE_MAX_LIFETIME_SECONDS
        if lifetime > 0:
            jitter = lifetime * conf.SSE_MAX_LIFETIME_JITTER * random.random()
            self.deadline = self.loop.time() + lifetime - jitter
        if expires_at is not None:
            # The credential it opened with (a JWT) expires: the stream ends then, with a
            # retry:, and its client comes back with a fresh one.
            at = self.loop.time() + (expires_at - time.time())
            if self.deadline is None or at <= self.deadline:
                self.deadline = at
                self.credential_deadline = True

    def expire(self) -> None:
        """Its deadline passed (the hub's timer): end it."""
        if self.credential_deadline:
            self.push(encode_retry(conf.SSE_RETRY_MS))
            self.close("expired")
        else:
            self.close("lifetime")

    def beat(self, now: float) -> None:
        """Nothing written for a heartbeat interval (sse.hub.heartbeats): a comment, unless
        frames are waiting to be written."""
        if not self.frames:
            self.last_write = now
            self.push(HEARTBEAT)

    def take_heartbeat(self) -> bool:
        """Whether :meth:`beat` queued a heartbeat, all that is queued: taken out of the queue,
        for a body that waits elsewhere (a replay's turn, sse.hub.replay_budget) to send now."""
        if len(self.frames) != 1 or self.frames[0] != HEARTBEAT:
            return False
        self.frames.clear()
        self.nbytes = 0
        return True

    def offer(
        self,
        index: int,
        seq: int,
        check: int | None,
        event: str | None,
        body: bytes,
        single_id: bytes | None = None,
    ) -> None:
        """Queue event ``seq`` (its log check: ``check``) of channel ``index`` unless already
        sent; ``body`` from encode_body."""
        if self.closed:
            return
        if self.held is not None:
            self.held.append((index, seq, check, event, body))
            self.held_bytes += len(body)
            if len(self.held) > self.max_frames or self.held_bytes > self.max_bytes:
                # Live events outran the replay: the client resumes from where replay got to.
                self.counts.slow_disconnects += 1
                self.held = []
                self.held_bytes = 0
                self.close("slow-consumer")
            return
        if seq <= self.positions[index]:
            if event in self.end_after:
                # Covered by the state the stream sent first, which may have been read just
                # before the end: the stream still ends where the channel does.
                self.push(encode_id(self.cursor) + body)
                self.close("ended")
            return
        self.positions[index] = seq
        self.checks[index] = check
        if single_id is not None and len(self.positions) == 1:
            self.push(single_id + body)
        else:
            self.push(encode_id(self.cursor) + body)
        if self.end_after and event in self.end_after:
            self.close("ended")

    def release(self) -> None:
        """Replay is done: deliver what arrived during it, minus what replay sent (unless an
        access re-check holds the stream: then when it answers)."""
        self.replaying = False
        if not self.suspended:
            self._flush_held()

    def suspend(self) -> None:
        """Hold live events until :meth:`unsuspend`: the stream's access is being re-checked,
        and nothing published after the change may go out before the answer."""
        self.suspended = True
        if self.held is None:
            self.held = []

    def unsuspend(self) -> None:
        """The re-check let the stream stay: deliver what it held (a closed stream sends nothing)."""
        self.suspended = False
        if not self.replaying:
            self._flush_held()

    def _flush_held(self) -> None:
        held, self.held = self.held, None
        self.held_bytes = 0
        for index, seq, check, event, body in held or ():
            self.offer(index, seq, check, event, body)

    def push(self, frame: bytes) -> None:
        if self.closed:
            return
        self.frames.append(frame)
        self.nbytes += len(frame)
        if len(self.frames) > self.max_frames or self.nbytes > self.max_bytes:
            # Its client resumes from the event log with its last id: nothing is lost.
            self.counts.slow_disconnects += 1
            self.close("slow-consumer", drop_queued=True)
            return
        self._wake()

    def close(self, reason: str, *, drop_queued: bool = False) -> None:
        """End the stream after what is queued (or at once, ``drop_queued``)."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        if drop_queued:
            self.frames.clear()
            self.nbytes = 0
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def chunks(self) -> AsyncIterator[bytes]:
        """Queued frames, coalesced into chunks of about CHUNK_BYTES, until closed."""
        loop = self.loop
        while True:
            if self.frames:
                if self.nbytes <= CHUNK_BYTES:
                    chunk = b"".join(self.frames)
                    self.frames.clear()
                    self.nbytes = 0
                else:
                    size = count = 0
                    while count < len(self.frames) and (count == 0 or size < CHUNK_BYTES):
                        size += len(self.frames[count])
                        count += 1
                    chunk = b"".join(self.frames[:count])
                    del self.frames[:count]
                    self.nbytes -= size
                self.last_write = loop.time()
                self.bytes_sent += len(chunk)
                yield chunk
                continue
            if self.closed:
                return
            self.waiter = loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
