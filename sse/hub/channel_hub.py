"""ChannelHub: a process's streams, one layer membership per channel, fanned out in-process.

All hub state lives on the event loop that serves the streams; other threads
hand events in through :meth:`ChannelHub.deliver_threadsafe`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence

from sse import runtime
from sse.auth.identity import StreamIdentity
from sse.auth.revocation import on_notice, recheck_forever
from sse.auth.user_signals import watch
from sse.conf import conf
from sse.hub.caps import Caps, OverCapacity
from sse.hub.catchup import CatchUp
from sse.hub.gc_tuning import tune_gc_once
from sse.hub.groups import ChannelGroup, join_groups, leave_groups
from sse.hub.heartbeats import Heartbeats
from sse.hub.inbox import Arrival, Inbox
from sse.hub.log_poll import poll_forever
from sse.hub.log_threads import LogThreads
from sse.hub.order import OrderGate
from sse.hub.parts import GroupParts, StreamParts
from sse.hub.process_hub import ProcessHub
from sse.hub.replay_budget import ReplayBudget
from sse.hub.stats import Counts, HubStats, figures
from sse.hub.subscriber import Subscriber
from sse.transport.link import LayerLink
from sse.wire.cursor import LogPosition
from sse.wire.encoding import encode_retry, spread_retry_ms

__all__ = ["ChannelHub", "HubStats", "OverCapacity", "Subscriber"]

logger = logging.getLogger("sse.hub")


class ChannelHub:
    """The streams of one process (one event loop): caps, groups, timers, figures.

    ``per_user``: open streams per user (only users with one); ``delivery_lags``: seconds
    from publish (commit) to fan-out, of events that carry a publish time; ``replays``: replays
    longer than a page take turns, per user and in all (sse/hub/replay_budget.py).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.link = LayerLink(
            loop,
            on_event=self.on_event,
            on_error=self._count_layer_error,
            wanted=self._wanted_channels,
            # Another process said these streams' access may have changed (sse.access_changed).
            on_access=functools.partial(on_notice, self),
        )
        self.log = LogThreads(loop)
        self.groups: dict[str, ChannelGroup] = {}
        self.subscribers: set[Subscriber] = set()
        self.caps = Caps()
        self.per_user = self.caps.per_user
        self.counts = Counts()
        # Seconds from publish (commit) to fan-out, for events that carry a publish time.
        self.delivery_lags: deque[float] = deque(maxlen=10000)
        self.order = OrderGate(loop, self.groups, self.log.run, self._pass, self.counts)
        self.catching_up = CatchUp(
            loop, self.groups, self.log.read_merged_page, self.counts, self.on_event, self.order
        )
        self.replays = ReplayBudget()
        #: One timer for heartbeats and deadlines; other streams may join it (``beating()``).
        self.heartbeats = Heartbeats(loop, self.subscribers)
        # What the hub's parts get instead of the hub (sse/hub/parts.py), built once.
        self.stream_parts = StreamParts(loop, self.counts, runtime.get().part(ProcessHub).serials)
        self.group_parts = GroupParts(
            loop,
            self.counts,
            self.delivery_lags,
            self.link.join,
            self.order.reading_heads(self.log.heads),
            self.catching_up.start,
        )
        inbox = Inbox(loop, self.on_event)
        #: Hand an event in from any thread: (channel, seq, event, data, publish time, check, row).
        self.deliver_threadsafe = inbox.put
        self._tasks: list[asyncio.Task[None]] = []
        self._started = self._stopping = False

    # -- the process's hub -------------------------------------------------

    @classmethod
    def current(cls) -> ChannelHub:
        """The hub of the running event loop, created on first use."""
        loop = asyncio.get_running_loop()
        rt = runtime.get().part(ProcessHub)  # the runtime holds the hub: no class or module state
        with rt.lock:
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
        hub = runtime.get().part(ProcessHub).hub
        if not isinstance(hub, ChannelHub) or hub.loop.is_closed() or not hub.loop.is_running():
            return None
        return hub

    @classmethod
    def reset(cls) -> None:
        """Forget the process hub (tests use a new loop per test)."""
        rt = runtime.get().part(ProcessHub)
        with rt.lock:
            if isinstance(rt.hub, ChannelHub):
                rt.hub._abandon()
            rt.hub = None

    @classmethod
    def on_start(cls, callback: Callable[[ChannelHub], None]) -> None:
        """Call ``callback(hub)`` on the loop when a hub starts serving streams (once per hub)."""
        callbacks = runtime.get().part(ProcessHub).start_callbacks
        if callback not in callbacks:
            callbacks.append(callback)

    @property
    def active(self) -> bool:
        """Still the process's hub and not shutting down: per-hub background work goes on."""
        hub: object = runtime.get().part(ProcessHub).hub
        return not self._stopping and hub is self

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def layer_reaches_other_processes(self) -> bool:
        """False with the in-memory layer: other processes' hubs hear this one only through the log."""
        return self.link.reaches_other_processes

    def _all_tasks(self) -> Iterator[asyncio.Task[None]]:
        yield from self._tasks
        if self.heartbeats.task is not None:
            yield self.heartbeats.task

    def _abandon(self) -> None:
        for task in self._all_tasks():
            if not self.loop.is_closed():
                self.loop.call_soon_threadsafe(task.cancel)
        self.log.shutdown()

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        tune_gc_once()
        poll = poll_forever(self.groups, self.log.heads, self._behind, self.order.read_row, self.order.settle)
        for coro in (*self.link.tasks(), poll, self.log.trim_forever(), recheck_forever(self)):
            self._tasks.append(self.loop.create_task(coro))
        self.heartbeats.start()
        # Sign-outs, password changes, deactivations and access notices (sse.access_changed)
        # in this process reach its streams at once.
        watch(self)
        # Among them (SseConfig.ready): SIGTERM/SIGINT end every stream cleanly first, under
        # any server (sse.server.shutdown.on_hub_start).
        for callback in list(runtime.get().part(ProcessHub).start_callbacks):
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
        for task in self._all_tasks():
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
        self.caps.admit(len(self.subscribers), user_key)
        self._start()
        sub = Subscriber(self.stream_parts, tuple(channels), user_key, end_after, identity, check_rules)
        self.subscribers.add(sub)
        self.caps.opened(user_key)
        try:
            await asyncio.gather(*join_groups(self.groups, self.group_parts, sub, max_rate))
        except BaseException:
            self.unsubscribe(sub)
            raise
        sub.set_deadline(identity.expires_at if identity is not None else None)
        return sub

    def head(self, channel: str) -> LogPosition:
        """The last event this hub delivered on ``channel``, with its check (subscribed channels only)."""
        return self.groups[channel].head

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub not in self.subscribers:
            return
        sub.close(sub.close_reason or "closed", drop_queued=True)
        self.subscribers.discard(sub)
        self.caps.closed(sub.user_key)
        for name in leave_groups(self.groups, sub):
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

    def on_event(self, *ev: *Arrival) -> None:
        """An event from the layer or this process: (channel, seq, event name, data, publish
        time, the check the log keeps with it, its row in the log)."""
        if self.catching_up.hold(ev):
            return  # delivered in arrival order once the log is read
        group = self.groups.get(ev[0])
        if group is not None and not self.order.holds(group, ev):
            group.on_event(*ev[1:6])

    def _pass(self, ev: Arrival) -> None:
        # An event the order gate let through.
        group = self.groups.get(ev[0])
        if not self.catching_up.hold(ev) and group is not None:
            group.on_event(*ev[1:6])

    def _behind(self, channel: str) -> None:
        # The log poll found events of ``channel`` the layer did not bring.
        self.catching_up.start(channel)
        self.link.rejoin_lagging(channel)

    # -- the layer's callbacks, figures -------------------------------------

    def _wanted_channels(self) -> Sequence[str]:
        return () if self._stopping else list(self.groups)

    def _count_layer_error(self) -> None:
        self.counts.layer_errors += 1

    def take_delivery_lags(self) -> list[float]:
        """Seconds from publish to fan-out of the events seen since the last call (call on the loop)."""
        samples = list(self.delivery_lags)
        self.delivery_lags.clear()
        return samples

    def stats(self) -> HubStats:
        """This process's figures (call on the loop)."""
        return figures(self.counts, self.subscribers, self.groups, len(self.per_user), len(self.link.members))
