"""ChannelHub: a process's streams, one layer membership per channel, fanned out in-process.

All hub state lives on the event loop that serves the streams; other threads
hand events in through :meth:`ChannelHub.deliver_threadsafe`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar

from sse import runtime
from sse.auth.revocation import StreamIdentity, on_notice, recheck_forever, watch
from sse.conf import conf
from sse.hub.catchup import CatchUp
from sse.hub.groups import ChannelGroup
from sse.hub.log_threads import LogThreads
from sse.hub.replay_budget import ReplayBudget
from sse.hub.stats import Counts, HubStats
from sse.hub.subscriber import Subscriber
from sse.transport.link import LayerLink
from sse.wire.cursor import LogPosition
from sse.wire.encoding import HEARTBEAT, encode_retry, spread_retry_ms

__all__ = ["ChannelHub", "HubStats", "OverCapacity", "Subscriber", "tune_gc"]

logger = logging.getLogger("sse.hub")

_INBOX_SLICE = 256


def tune_gc() -> None:
    """Collect less often, and never scan what start-up made (``SSE_GC_THRESHOLD``; 0: leave it).

    Every open stream is a few hundred objects; with Python's default threshold (2000)
    the collector's full passes over them came often enough, with 5,000 streams, to
    hold a reconnect storm up for minutes (measured: clients caught up after 140 s
    instead of 28 s). Called once per process when its first hub starts, so every
    server gets it, not only ``python -m sse.daphne``.
    """
    threshold = conf.SSE_GC_THRESHOLD
    if threshold > 0:
        gc.collect()
        gc.freeze()
        gc.set_threshold(threshold, 20, 100)


_gc_tuned = False


def _tune_gc_once() -> None:
    global _gc_tuned
    if not _gc_tuned:
        _gc_tuned = True
        tune_gc()


def _rewound(delivered: LogPosition, head: LogPosition) -> bool:
    """The log's ``head`` no longer holds what was ``delivered`` before it was read."""
    if head.seq < delivered.seq:
        return True
    return (
        head.seq == delivered.seq
        and head.check is not None
        and delivered.check is not None
        and head.check != delivered.check
    )


class OverCapacity(Exception):
    """A stream cap (per user or per process) is reached, or the server is shutting down."""


class ChannelHub:
    """The streams of one process (one event loop): caps, groups, timers, figures."""

    _start_callbacks: ClassVar[list[Callable[[ChannelHub], None]]] = []

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.link = LayerLink(
            loop,
            on_event=self.on_event,
            on_error=self._count_layer_error,
            wanted=self._wanted_channels,
            on_access=self._on_access,
        )
        self.log = LogThreads(loop)
        self.catching_up = CatchUp(self)
        # Replays longer than a page take turns: per user and in all (sse/hub/replay_budget.py).
        self.replays = ReplayBudget()
        self.groups: dict[str, ChannelGroup] = {}
        self.subscribers: set[Subscriber] = set()
        self.per_user: Counter[str] = Counter()
        self.counts = Counts()
        # Seconds from publish (commit) to fan-out, for events that carry a publish time.
        self.delivery_lags: deque[float] = deque(maxlen=10000)
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._stopping = False
        # Events handed in from other threads wait here, and are fanned out a slice per
        # loop turn: one wake-up (one write) per stream carries many events of a burst,
        # and streams run between slices, so their bounded queues never see a whole burst.
        self._inbox: deque[tuple[str, int, str | None, str, float | None, int | None]] = deque()
        self._inbox_lock = threading.Lock()
        self._inbox_scheduled = False

    # -- the process's hub -------------------------------------------------

    @classmethod
    def current(cls) -> ChannelHub:
        """The hub of the running event loop, created on first use."""
        loop = asyncio.get_running_loop()
        rt = runtime.get()  # the runtime holds the hub: no class or module state
        with rt.hub_lock:
            hub = rt.hub
            if not isinstance(hub, cls) or hub.loop is not loop:
                if isinstance(hub, ChannelHub):
                    hub._abandon()
                hub = cls(loop)
                rt.hub = hub
        return hub

    @classmethod
    def running(cls) -> ChannelHub | None:
        """The hub of this process if its loop is alive (for other threads)."""
        hub = runtime.get().hub
        if not isinstance(hub, ChannelHub) or hub.loop.is_closed() or not hub.loop.is_running():
            return None
        return hub

    @classmethod
    def reset(cls) -> None:
        """Forget the process hub (tests use a new loop per test)."""
        rt = runtime.get()
        with rt.hub_lock:
            if isinstance(rt.hub, ChannelHub):
                rt.hub._abandon()
            rt.hub = None

    @classmethod
    def on_start(cls, callback: Callable[[ChannelHub], None]) -> None:
        """Call ``callback(hub)`` on the loop when a hub starts serving streams (once per hub)."""
        if callback not in cls._start_callbacks:
            cls._start_callbacks.append(callback)

    @property
    def active(self) -> bool:
        """Still the process's hub and not shutting down: per-hub background work goes on."""
        hub: object = runtime.get().hub
        return not self._stopping and hub is self

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def layer_reaches_other_processes(self) -> bool:
        """False with the in-memory layer: other processes' hubs hear this one only through the log."""
        return self.link.reaches_other_processes

    def _abandon(self) -> None:
        for task in self._tasks:
            if not self.loop.is_closed():
                self.loop.call_soon_threadsafe(task.cancel)
        self.log.shutdown()

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        _tune_gc_once()
        tasks = (*self.link.tasks(), self._poll_loop(), self._timer_loop(), self.log.trim_forever())
        for coro in (*tasks, recheck_forever(self)):
            self._tasks.append(self.loop.create_task(coro))
        # Sign-outs, password changes, deactivations and access notices (sse.access_changed)
        # in this process reach its streams at once.
        watch(self)
        # SIGTERM/SIGINT end every stream cleanly first, under any server (sse.server.shutdown);
        # a no-op off the main thread, and when a lifespan startup installed it already.
        from sse.server import shutdown

        shutdown.install()
        for callback in list(self._start_callbacks):
            try:
                callback(self)
            except Exception:
                logger.exception("hub start callback %r failed", callback)

    async def stop(self) -> None:
        """End every stream cleanly (server shutdown): clients reconnect and resume."""
        self._stopping = True
        retry, spread = conf.SSE_RETRY_MS, conf.SSE_SHUTDOWN_RETRY_SPREAD_MS
        for sub in list(self.subscribers):
            # Each client comes back at its own moment: the restarted process gets them spread out.
            sub.push(encode_retry(spread_retry_ms(retry, spread)))
            sub.close("shutdown")
        for task in self._tasks:
            task.cancel()

    # -- streams -----------------------------------------------------------

    async def subscribe(
        self,
        channels: Sequence[str],
        *,
        user_key: str | None,
        end_after: frozenset[str] = frozenset(),
        identity: StreamIdentity | None = None,
        check_rules: bool = False,
        max_rate: float | None = None,
    ) -> Subscriber:
        """Register a stream on ``channels``; live events are held until :meth:`Subscriber.release`.

        ``identity``: the session and password the stream stands on, re-checked while it is
        open; ``check_rules``: re-run the channels' rules too (sse.auth.revocation).
        ``max_rate``: the events per second the stream asked for on its throttled channels
        (bounded by each channel's ``max_rate`` and ``min_rate``).
        """
        if self._stopping:
            raise OverCapacity("server is shutting down")
        per_process = conf.SSE_MAX_STREAMS_PER_PROCESS
        if per_process and len(self.subscribers) >= per_process:
            raise OverCapacity("too many open streams on this server")
        per_user = conf.SSE_MAX_STREAMS_PER_USER
        if per_user and user_key is not None and self.per_user[user_key] >= per_user:
            raise OverCapacity("too many open streams for this user")
        self._start()
        sub = Subscriber(self, tuple(channels), user_key, end_after, identity, check_rules)
        self.subscribers.add(sub)
        if user_key is not None:
            self.per_user[user_key] += 1
        waits = []
        for index, name in enumerate(sub.channels):
            group = self.groups.get(name)
            if group is None:
                group = self.groups[name] = ChannelGroup(self, name)
                group.ready = self.loop.create_task(group.join())
            group.add(sub, index, max_rate)
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
        expires_at = identity.expires_at if identity is not None else None
        if expires_at is not None:
            # The credential it opened with (a JWT) expires: the stream ends then, with a
            # retry:, and its client comes back with a fresh one.
            at = self.loop.time() + (expires_at - time.time())
            if sub.deadline is None or at <= sub.deadline:
                sub.deadline = at
                sub.credential_deadline = True
        return sub

    def head(self, channel: str) -> LogPosition:
        """The last event this hub delivered on ``channel``, with its check (subscribed channels only)."""
        return self.groups[channel].head

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
            group.remove(sub)
            if not group.members:
                group.close()
                del self.groups[name]
                if group.ready is not None and not group.ready.done():
                    group.ready.cancel()
                self.link.leave(name)

    def streams_on(self, channels: Sequence[str]) -> int:
        """How many open streams of this process are on any of ``channels`` (call on the loop)."""
        found: set[Subscriber] = set()
        for name in channels:
            group = self.groups.get(name)
            if group is not None:
                found.update(group.members)
        return len(found)

    def open_streams(self) -> Iterator[Subscriber]:
        """This process's open streams, for operators' reports (call on the loop; do not change them)."""
        return iter(tuple(self.subscribers))

    def close_stream(self, serial: int, reason: str = "disconnected") -> bool:
        """End the stream numbered ``serial`` (``Subscriber.serial``) after what is queued; its
        client reconnects and resumes as after any ended stream. False if no such stream here."""
        for sub in self.subscribers:
            if sub.serial == serial:
                sub.close(reason)
                return True
        return False

    # -- events in ---------------------------------------------------------

    def deliver_threadsafe(
        self,
        channel: str,
        seq: int,
        event: str | None,
        data: str,
        ts: float | None = None,
        check: int | None = None,
    ) -> None:
        self._inbox.append((channel, seq, event, data, ts, check))
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

    def on_event(
        self,
        channel: str,
        seq: int,
        event: str | None,
        data: str,
        ts: float | None = None,
        check: int | None = None,
    ) -> None:
        """An event with its log seq, from the layer or this process; ``ts``: its publish
        time; ``check``: the check the log keeps with it."""
        if self.catching_up.hold((channel, seq, event, data, ts, check)):
            return  # delivered in arrival order once the log is read
        group = self.groups.get(channel)
        if group is not None:
            group.on_event(seq, event, data, ts, check)

    async def _poll_loop(self) -> None:
        # Events from processes the layer does not connect (the in-memory layer),
        # and anything the layer lost, are found in the log.
        while True:
            await asyncio.sleep(conf.SSE_LOG_POLL_SECONDS)
            # What was delivered before the read: the log holds all of it (delivered once committed).
            before = {name: g.head for name, g in self.groups.items() if not g.joining}
            if not before:
                continue
            try:
                heads = await self.log.heads(list(before))
            except Exception as exc:
                logger.warning("polling the event log failed: %s", exc)
                continue
            for name, head in heads.items():
                group = self.groups.get(name)
                if group is None or group.joining:
                    continue
                if _rewound(before[name], head):
                    logger.warning(
                        "the event log of %s went back (restored or emptied): at %s, this server "
                        "had delivered up to %s; its streams end and resume with reset",
                        name,
                        head.seq,
                        before[name].seq,
                    )
                    group.rewound(head if group.head == before[name] else group.head)
                elif head.seq > group.last_seq:
                    self.catching_up.start(name)
                    self.link.rejoin_lagging(name)

    # -- timers and figures ------------------------------------------------

    async def _timer_loop(self) -> None:
        while True:
            heartbeat = conf.SSE_HEARTBEAT_SECONDS
            await asyncio.sleep(max(0.05, min(1.0, heartbeat / 4)))
            now = self.loop.time()
            for sub in list(self.subscribers):
                if sub.deadline is not None and now >= sub.deadline:
                    if sub.credential_deadline:
                        sub.push(encode_retry(conf.SSE_RETRY_MS))
                        sub.close("expired")
                    else:
                        sub.close("lifetime")
                elif not sub.frames and now - sub.last_write >= heartbeat:
                    sub.last_write = now
                    sub.push(HEARTBEAT)

    def _wanted_channels(self) -> Sequence[str]:
        return () if self._stopping else list(self.groups)

    def _on_access(self, users: list[str], channels: list[str]) -> None:
        # Another process said these streams' access may have changed (sse.access_changed).
        on_notice(self, users, channels)

    def _count_layer_error(self) -> None:
        self.counts.layer_errors += 1

    def take_delivery_lags(self) -> list[float]:
        """Seconds from publish to fan-out of the events seen since the last call (call on the loop)."""
        samples = list(self.delivery_lags)
        self.delivery_lags.clear()
        return samples

    def stats(self) -> HubStats:
        """This process's figures (call on the loop)."""
        counts = self.counts
        return HubStats(
            streams=len(self.subscribers),
            streams_by_channel={name: len(g.members) for name, g in sorted(self.groups.items())},
            groups=len(self.groups),
            queued_frames=sum(len(s.frames) for s in self.subscribers),
            queued_bytes=sum(s.nbytes for s in self.subscribers),
            users=len(self.per_user),
            layer_members=len(self.link.members),
            received=counts.received,
            delivered=counts.delivered,
            caught_up_events=counts.caught_up_events,
            slow_disconnects=counts.slow_disconnects,
            layer_errors=counts.layer_errors,
            resumes=counts.resumes,
            resets=counts.resets,
            conflated=counts.conflated,
        )
