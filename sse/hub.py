"""ChannelHub: one channel-layer subscription per group per process, fanned out
in-process to bounded per-stream queues.

All hub state lives on the event loop that serves the streams; other threads
hand events in through :meth:`ChannelHub.deliver_threadsafe`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import connections

from sse.conf import conf
from sse.cursor import channel_tag, format_cursor
from sse.encoding import encode_comment, split_lines
from sse.registry import is_ephemeral
from sse.storage import get_event_log

__all__ = ["ChannelHub", "HubStats", "OverCapacity", "Subscriber", "group_name"]

logger = logging.getLogger("sse.hub")


_HEARTBEAT = encode_comment("ping")
_LOG_PAGE = 1000
# About this much event data is read from the log at once, and written per chunk:
# a few large events must not become one huge allocation.
_PAGE_BYTES = 1024 * 1024
CHUNK_BYTES = 64 * 1024
_RETRY_SECONDS = 1.0
_INBOX_SLICE = 256
MESSAGE_TYPE = "sse.event"


def group_name(channel: str) -> str:
    return f"sse.{channel}"


def encode_body(event: str | None, data: str) -> bytes:
    """An event's fields after ``id:``; shared by every stream that gets it."""
    head = f"event: {event}\n" if event else ""
    lines = "".join(f"data: {line}\n" for line in split_lines(data))
    return (head + lines + "\n").encode()


class OverCapacity(Exception):
    """A stream cap (per user or per process) is reached."""


@dataclass(frozen=True)
class HubStats:
    streams: int
    groups: int
    queued_frames: int
    queued_bytes: int
    users: int
    layer_members: int
    delivered: int
    slow_disconnects: int
    layer_errors: int
    caught_up_events: int


class Subscriber:
    """One open stream: its channels, its position on each, its queued frames."""

    __slots__ = (
        "channels",
        "close_reason",
        "closed",
        "deadline",
        "frames",
        "held",
        "held_bytes",
        "hub",
        "last_write",
        "nbytes",
        "positions",
        "tag",
        "user_key",
        "waiter",
    )

    def __init__(self, hub: ChannelHub, channels: tuple[str, ...], user_key: str | None) -> None:
        self.hub = hub
        self.channels = channels
        self.tag = channel_tag(channels)
        self.user_key = user_key
        self.positions = [0] * len(channels)
        self.frames: list[bytes] = []
        self.nbytes = 0
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.close_reason: str | None = None
        # Live events wait here until the stream has replayed what it missed.
        self.held: list[tuple[int, int, bytes]] | None = []
        self.held_bytes = 0
        self.last_write = hub.loop.time()
        self.deadline: float | None = None

    @property
    def cursor(self) -> str:
        return format_cursor(self.tag, self.positions)

    def offer(self, index: int, seq: int, body: bytes, single_id: bytes | None = None) -> None:
        if self.closed:
            return
        if self.held is not None:
            self.held.append((index, seq, body))
            self.held_bytes += len(body)
            max_frames, max_bytes = self.hub.queue_limits
            if len(self.held) > max_frames or self.held_bytes > max_bytes:
                # Live events outran the replay: the client resumes from where replay got to.
                self.hub.counters["slow_disconnects"] += 1
                self.held = []
                self.held_bytes = 0
                self.close("slow-consumer")
            return
        if seq <= self.positions[index]:
            return
        self.positions[index] = seq
        if single_id is not None and len(self.positions) == 1:
            self.push(single_id + body)
        else:
            self.push(b"id: " + self.cursor.encode() + b"\n" + body)

    def release(self) -> None:
        """Stop holding: deliver what arrived during replay, minus what replay sent."""
        held, self.held = self.held, None
        self.held_bytes = 0
        for index, seq, body in held or ():
            self.offer(index, seq, body)

    def push(self, frame: bytes) -> None:
        if self.closed:
            return
        self.frames.append(frame)
        self.nbytes += len(frame)
        max_frames, max_bytes = self.hub.queue_limits
        if len(self.frames) > max_frames or self.nbytes > max_bytes:
            # Its client resumes from the event log with its last id: nothing is lost.
            self.hub.counters["slow_disconnects"] += 1
            self.close("slow-consumer", drop_queued=True)
            return
        self._wake()

    def close(self, reason: str, *, drop_queued: bool = False) -> None:
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
        loop = self.hub.loop
        while True:
            if self.frames:
                if self.nbytes <= CHUNK_BYTES:
                    chunk = b"".join(self.frames)
                    self.frames.clear()
                    self.nbytes = 0
                else:
                    # A backlog goes out in bounded chunks, so the server's write buffer
                    # holds little beyond this bounded queue.
                    size = count = 0
                    while count < len(self.frames) and (count == 0 or size < CHUNK_BYTES):
                        size += len(self.frames[count])
                        count += 1
                    chunk = b"".join(self.frames[:count])
                    del self.frames[:count]
                    self.nbytes -= size
                self.last_write = loop.time()
                yield chunk
                continue
            if self.closed:
                return
            self.waiter = loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None


class _Group:
    __slots__ = ("ephemeral", "healing", "last_seq", "members", "name", "pending", "ready", "tag")

    def __init__(self, name: str) -> None:
        self.name = name
        self.tag = channel_tag((name,))
        self.members: dict[Subscriber, int] = {}
        self.last_seq = 0
        # Until the head is read, and while a gap is filled from the log,
        # events from the layer wait here (seq -> (event, data)).
        self.healing = True
        self.pending: dict[int, tuple[str | None, str]] = {}
        self.ephemeral = is_ephemeral(name)
        self.ready: asyncio.Future[None] | None = None


class ChannelHub:
    _instance: ChannelHub | None = None
    _instance_lock = threading.Lock()
    #: Called with the hub when it starts in a process: apps hang per-process
    #: background work here (the notifications dashboard's metrics publisher).
    start_hooks: ClassVar[list[Callable[[ChannelHub], None]]] = []

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.layer = get_channel_layer(conf.SSE_CHANNEL_LAYER)
        if self.layer is None:
            raise RuntimeError("sse needs a channel layer: set CHANNEL_LAYERS (see the sse.E001 check)")
        self.layer_is_local = isinstance(self.layer, InMemoryChannelLayer)
        self.layer_channel: str | None = None
        self.groups: dict[str, _Group] = {}
        self.subscribers: set[Subscriber] = set()
        self.per_user: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()
        # Read per fan-out, subscribe and timer tick, not per frame: an unset setting costs
        # an AttributeError inside django.conf on every read (6% of a 600-stream broadcast).
        self.queue_limits = (conf.SSE_QUEUE_MAX_FRAMES, conf.SSE_QUEUE_MAX_BYTES)
        # Seconds from publish (commit) to fan-out, for events that carry a publish time.
        self.lag_samples: deque[float] = deque(maxlen=10000)
        self.layer_members: set[str] = set()
        self._membership: asyncio.Queue[tuple[str, str, asyncio.Future[None]]] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sse-log")
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._stopping = False
        self.page = PageSize()
        # When each group was last re-added because the log had what the layer had not.
        self._rejoined: dict[str, float] = {}
        # Events handed in from other threads wait here, and are fanned out a slice per
        # loop turn: one wake-up (one write) per stream carries many events of a burst,
        # and streams run between slices, so their bounded queues never see a whole burst.
        self._inbox: deque[tuple[str, int, str | None, str, float | None]] = deque()
        self._inbox_lock = threading.Lock()
        self._inbox_scheduled = False
        self._add_retries: set[str] = set()

    # -- lifecycle ---------------------------------------------------------

    @classmethod
    def current(cls) -> ChannelHub:
        """The hub of the running event loop, created on first use."""
        loop = asyncio.get_running_loop()
        with cls._instance_lock:
            hub = cls._instance
            if hub is None or hub.loop is not loop:
                if hub is not None:
                    hub._abandon()
                hub = cls._instance = cls(loop)
        return hub

    @classmethod
    def running(cls) -> ChannelHub | None:
        """The hub of this process if its loop is alive (for other threads)."""
        hub = cls._instance
        if hub is None or hub.loop.is_closed() or not hub.loop.is_running():
            return None
        return hub

    @classmethod
    def reset(cls) -> None:
        """Forget the process hub (tests use a new loop per test)."""
        with cls._instance_lock:
            if cls._instance is not None:
                cls._instance._abandon()
            cls._instance = None

    def _abandon(self) -> None:
        for task in self._tasks:
            if not self.loop.is_closed():
                self.loop.call_soon_threadsafe(task.cancel)
        self._executor.shutdown(wait=False)

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        for coro in (
            self._membership_worker(),
            self._receive_loop(),
            self._poll_loop(),
            self._timer_loop(),
            self._refresh_loop(),
            self._trim_loop(),
        ):
            self._tasks.append(self.loop.create_task(coro))
        for hook in list(self.start_hooks):
            try:
                hook(self)
            except Exception:
                logger.exception("hub start hook %r failed", hook)

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def stop(self) -> None:
        """End every stream cleanly (server shutdown): clients reconnect and resume."""
        self._stopping = True
        for sub in list(self.subscribers):
            sub.close("shutdown")
        for task in self._tasks:
            task.cancel()

    # -- streams -----------------------------------------------------------

    async def subscribe(self, channels: Sequence[str], *, user_key: str | None) -> Subscriber:
        """Register a stream on ``channels``; live events are held until :meth:`Subscriber.release`."""
        if self._stopping:
            raise OverCapacity("server is shutting down")
        self.queue_limits = (conf.SSE_QUEUE_MAX_FRAMES, conf.SSE_QUEUE_MAX_BYTES)
        per_process = conf.SSE_MAX_STREAMS_PER_PROCESS
        if per_process and len(self.subscribers) >= per_process:
            raise OverCapacity("too many open streams on this server")
        per_user = conf.SSE_MAX_STREAMS_PER_USER
        if per_user and user_key is not None and self.per_user[user_key] >= per_user:
            raise OverCapacity("too many open streams for this user")
        self._start()
        sub = Subscriber(self, tuple(channels), user_key)
        self.subscribers.add(sub)
        if user_key is not None:
            self.per_user[user_key] += 1
        waits = []
        for index, name in enumerate(sub.channels):
            group = self.groups.get(name)
            if group is None:
                group = self.groups[name] = _Group(name)
                group.ready = self.loop.create_task(self._join(group))  # type: ignore[assignment]
            group.members[sub] = index
            assert group.ready is not None
            waits.append(asyncio.shield(group.ready))
        try:
            await asyncio.gather(*waits)
        except BaseException:
            self.unsubscribe(sub)
            raise
        lifetime = conf.SSE_MAX_LIFETIME_SECONDS
        if lifetime > 0:
            jitter = lifetime * conf.SSE_MAX_LIFETIME_JITTER * random.random()
            sub.deadline = self.loop.time() + lifetime - jitter
        return sub

    def head(self, channel: str) -> int:
        """The last seq this hub delivered on ``channel`` (subscribed channels only)."""
        return self.groups[channel].last_seq

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub not in self.subscribers:
            return
        sub.close(sub.close_reason or "closed", drop_queued=True)
        self.subscribers.discard(sub)
        if sub.user_key is not None:
            self.per_user[sub.user_key] -= 1
            if self.per_user[sub.user_key] <= 0:
                del self.per_user[sub.user_key]
        for name in sub.channels:
            group = self.groups.get(name)
            if group is None:
                continue
            group.members.pop(sub, None)
            if not group.members:
                del self.groups[name]
                self._rejoined.pop(name, None)
                if group.ready is not None and not group.ready.done():
                    group.ready.cancel()
                self._queue_membership("discard", name)

    # -- channel layer membership ------------------------------------------

    def _queue_membership(self, op: str, name: str) -> asyncio.Future[None]:
        done: asyncio.Future[None] = self.loop.create_future()
        self._membership.put_nowait((op, name, done))
        return done

    async def _membership_worker(self) -> None:
        # One worker applies add/discard in order, so a quick leave-and-rejoin
        # never ends with the discard landing last.
        while True:
            op, name, done = await self._membership.get()
            try:
                channel = await self._layer_channel()
                if op == "add":
                    await self.layer.group_add(group_name(name), channel)
                    self.layer_members.add(name)
                else:
                    self.layer_members.discard(name)
                    await self.layer.group_discard(group_name(name), channel)
            except Exception as exc:  # layer down: the log keeps streams fed
                self.counters["layer_errors"] += 1
                logger.warning("channel layer %s of %s failed: %s", op, name, exc)
                if op == "add" and name not in self._add_retries:
                    # Keep trying: until the layer is back, this group lives on log polls.
                    self._add_retries.add(name)
                    self.loop.call_later(_RETRY_SECONDS * 2, self._retry_add, name)
            if not done.done():
                done.set_result(None)

    async def _layer_channel(self) -> str:
        if self.layer_channel is None:
            self.layer_channel = await self.layer.new_channel(prefix="sse-hub.")
        return self.layer_channel

    async def _join(self, group: _Group) -> None:
        await self._queue_membership("add", group.name)
        heads = await self.run_db(get_event_log().heads, [group.name])
        group.last_seq = heads[group.name]
        self._finish_healing(group)

    async def _refresh_loop(self) -> None:
        # Layers forget memberships after group_expiry: add them again before.
        while True:
            await asyncio.sleep(conf.SSE_GROUP_REFRESH_SECONDS)
            await self._rejoin_all()

    async def _rejoin_all(self) -> None:
        for name in list(self.groups):
            self._queue_membership("add", name)

    def _retry_add(self, name: str) -> None:
        self._add_retries.discard(name)
        if name in self.groups and not self._stopping:
            self._queue_membership("add", name)

    # -- receiving ---------------------------------------------------------

    async def _receive_loop(self) -> None:
        # One long-lived receive: cancelling receive() loses messages on some layers.
        backoff = 0.5
        while True:
            try:
                channel = await self._layer_channel()
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.counters["layer_errors"] += 1
                logger.warning("channel layer receive failed (%s); retrying", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                await self._rejoin_all()
                continue
            backoff = 0.5
            if message.get("type") == MESSAGE_TYPE:
                try:
                    self.on_event(
                        message["channel"],
                        int(message["seq"]),
                        message.get("event"),
                        message["data"],
                        message.get("ts"),
                    )
                except (KeyError, TypeError, ValueError):
                    logger.warning("ignored a malformed %s message", MESSAGE_TYPE)

    def deliver_threadsafe(
        self, channel: str, seq: int, event: str | None, data: str, ts: float | None = None
    ) -> None:
        self._inbox.append((channel, seq, event, data, ts))
        with self._inbox_lock:
            if self._inbox_scheduled:
                return
            self._inbox_scheduled = True
        try:
            self.loop.call_soon_threadsafe(self._drain_inbox)
        except RuntimeError:  # loop closed meanwhile
            pass

    def _drain_inbox(self) -> None:
        inbox = self._inbox
        try:
            for _ in range(min(len(inbox), _INBOX_SLICE)):
                self.on_event(*inbox.popleft())
        except Exception:
            # Never leave the inbox stuck "scheduled"; the log still has the event.
            logger.exception("fanning out an event failed")
        with self._inbox_lock:
            if not inbox:
                # Whatever arrives from now on schedules a new drain.
                self._inbox_scheduled = False
                return
        # More to do: after the streams woken by this slice have written.
        self.loop.call_soon(self._drain_inbox)

    def on_event(self, channel: str, seq: int, event: str | None, data: str, ts: float | None = None) -> None:
        """An event with its log sequence number, from the layer or this process.

        ``ts`` is its publish time (``time.time()`` at commit) when known, for lag figures.
        """
        group = self.groups.get(channel)
        if group is None or seq <= group.last_seq:
            return
        if group.healing:
            # Bounded: what is left out is in the log, and the next poll finds it.
            if len(group.pending) < _LOG_PAGE:
                group.pending[seq] = (event, data)
            return
        if seq == group.last_seq + 1 or group.ephemeral:
            self._fan_out(group, seq, event, data, ts)
            return
        # A gap: the layer dropped or reordered something. Fill it from the log.
        group.pending[seq] = (event, data)
        self._heal(group)

    def _fan_out(
        self, group: _Group, seq: int, event: str | None, data: str, ts: float | None = None
    ) -> None:
        group.last_seq = seq
        self.counters["events"] += 1
        if not group.members:
            return
        self.queue_limits = (conf.SSE_QUEUE_MAX_FRAMES, conf.SSE_QUEUE_MAX_BYTES)
        if ts is not None:
            self.lag_samples.append(max(0.0, time.time() - ts))
        body = encode_body(event, data)
        single_id = b"id: " + f"{group.tag}:{seq}".encode() + b"\n"
        for sub, index in list(group.members.items()):
            sub.offer(index, seq, body, single_id)
        self.counters["delivered"] += len(group.members)

    def _heal(self, group: _Group) -> None:
        if group.healing:
            return
        group.healing = True
        self.loop.create_task(self._catch_up(group))

    async def _catch_up(self, group: _Group) -> None:
        log = get_event_log()
        try:
            while self.groups.get(group.name) is group:
                limit = self.page.limit()
                events = await self.run_db(log.read, group.name, group.last_seq, limit)
                self.page.observe(events)
                for ev in events:
                    if ev.seq > group.last_seq:
                        self._fan_out(group, ev.seq, ev.event, ev.data)
                        self.counters["caught_up_events"] += 1
                if len(events) < limit:
                    break
        except Exception as exc:
            logger.warning("reading the event log for %s failed: %s", group.name, exc)
            # The database is unwell: do not spin on it (pending events retry this).
            await asyncio.sleep(_RETRY_SECONDS)
        finally:
            self._finish_healing(group)

    def _finish_healing(self, group: _Group) -> None:
        group.healing = False
        pending = sorted(group.pending.items())
        group.pending.clear()
        for seq, (event, data) in pending:
            self.on_event(group.name, seq, event, data)

    async def _poll_loop(self) -> None:
        # Events from processes the layer does not connect (the in-memory layer),
        # and anything the layer lost, are found in the log.
        log = get_event_log()
        while True:
            await asyncio.sleep(conf.SSE_LOG_POLL_SECONDS)
            names = [name for name, g in self.groups.items() if not g.healing]
            if not names:
                continue
            try:
                heads = await self.run_db(log.heads, names)
            except Exception as exc:
                logger.warning("polling the event log failed: %s", exc)
                continue
            for name, head in heads.items():
                group = self.groups.get(name)
                if group is not None and head > group.last_seq:
                    self._heal(group)
                    if not self.layer_is_local:
                        self._rejoin_lagging(name)

    def _rejoin_lagging(self, name: str) -> None:
        # The log had events the layer did not bring. Usually just in flight, but the
        # layer may have lost this membership (a Redis restart the receive loop did not
        # see, expiry): adding again is idempotent, so do it now and then.
        now = self.loop.time()
        if now - self._rejoined.get(name, -1e9) >= 10 * _RETRY_SECONDS:
            self._rejoined[name] = now
            self._queue_membership("add", name)

    # -- timers ------------------------------------------------------------

    async def _timer_loop(self) -> None:
        while True:
            heartbeat = conf.SSE_HEARTBEAT_SECONDS
            await asyncio.sleep(max(0.05, min(1.0, heartbeat / 4)))
            self.queue_limits = (conf.SSE_QUEUE_MAX_FRAMES, conf.SSE_QUEUE_MAX_BYTES)
            now = self.loop.time()
            for sub in list(self.subscribers):
                if sub.deadline is not None and now >= sub.deadline:
                    sub.close("lifetime")
                elif not sub.frames and now - sub.last_write >= heartbeat:
                    sub.last_write = now
                    sub.push(_HEARTBEAT)

    async def _trim_loop(self) -> None:
        while True:
            await asyncio.sleep(conf.SSE_LOG_TRIM_INTERVAL_SECONDS * (0.5 + random.random()))
            try:
                await self.run_db(trim_log)
            except Exception as exc:
                logger.warning("trimming the event log failed: %s", exc)

    # -- helpers -----------------------------------------------------------

    async def run_db[T](self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking log work on the hub's small thread pool."""
        return await self.loop.run_in_executor(self._executor, functools.partial(_db_call, fn, *args))

    def stats(self) -> HubStats:
        return HubStats(
            streams=len(self.subscribers),
            groups=len(self.groups),
            queued_frames=sum(len(s.frames) for s in self.subscribers),
            queued_bytes=sum(s.nbytes for s in self.subscribers),
            users=len(self.per_user),
            layer_members=len(self.layer_members),
            delivered=self.counters["delivered"],
            slow_disconnects=self.counters["slow_disconnects"],
            layer_errors=self.counters["layer_errors"],
            caught_up_events=self.counters["caught_up_events"],
        )


class PageSize:
    """How many events to read from the log at once: about _PAGE_BYTES of data.

    Starts cautious (events may be large) and follows the sizes it sees.
    """

    def __init__(self) -> None:
        self.average = 16 * 1024.0

    def limit(self) -> int:
        return max(1, min(_LOG_PAGE, int(_PAGE_BYTES / self.average)))

    def observe(self, events: Sequence[Any]) -> None:
        if events:
            size = sum(len(ev.data) for ev in events) / len(events)
            self.average = max(64.0, (self.average + size) / 2)


def _db_call[T](fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(*args)
    except Exception:
        # A broken connection must not stick to this pool thread.
        connections.close_all()
        raise


def trim_log() -> int:
    return get_event_log().trim(
        max_age_seconds=conf.SSE_LOG_MAX_AGE_SECONDS,
        max_events_per_channel=conf.SSE_LOG_MAX_EVENTS_PER_CHANNEL,
    )


def layer_message(
    channel: str, seq: int, event: str | None, data: str, ts: float | None = None
) -> dict[str, Any]:
    message = {"type": MESSAGE_TYPE, "channel": channel, "seq": seq, "event": event, "data": data}
    if ts is not None:
        message["ts"] = ts  # publish time, optional: older senders leave it out
    return message
