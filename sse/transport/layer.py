"""The channel layer, both ways: its message schema, sends from publishers, and a hub's link.

The layer is only a fast path between processes. Every event is in the log first;
a hub that misses one (a dropped message, a Redis outage, the in-memory layer that
reaches no other process) finds it there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Coroutine
from typing import Any

from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from django.utils.module_loading import import_string

from sse.conf import conf

__all__ = [
    "ACCESS_GROUP",
    "LayerLink",
    "backend_is_in_memory",
    "get_layer",
    "group_name",
    "reaches_other_processes",
    "send_access_notice",
    "send_event",
]

logger = logging.getLogger("sse.layer")

MESSAGE_TYPE = "sse.event"
ACCESS_TYPE = "sse.access"
#: The group every hub joins (on a layer that reaches other processes) to hear that some
#: streams' access may have changed (sse.auth.revocation.access_changed). Not ``sse.<channel>``:
#: no channel's group can be named this.
ACCESS_GROUP = "sse-access"
# A layer send that takes longer is given up: the event is in the log, hubs find it there.
_SEND_TIMEOUT = 5.0
# After a failed send, skip the layer this long: publishers must not wait on a dead Redis
# for every event, and the hubs poll the log meanwhile.
_SEND_BACKOFF = 2.0
_RETRY_SECONDS = 1.0

# (channel, seq, event, data, publish time, the event's check)
OnEvent = Callable[[str, int, str | None, str, float | None, int | None], None]
OnAccess = Callable[[list[str], list[str]], None]
# The access group's place in the membership queue (beside channel names, never one of them).
_ACCESS = "<access>"


def get_layer() -> BaseChannelLayer | None:
    """The layer named by ``SSE_CHANNEL_LAYER`` (None when ``CHANNEL_LAYERS`` has none)."""
    layer: BaseChannelLayer | None = get_channel_layer(conf.SSE_CHANNEL_LAYER)
    return layer


def reaches_other_processes(layer: BaseChannelLayer | None) -> bool:
    """Whether events sent on ``layer`` reach other processes (the in-memory layer's do not)."""
    return layer is not None and not isinstance(layer, InMemoryChannelLayer)


def backend_is_in_memory(backend: str) -> bool:
    """Whether a ``CHANNEL_LAYERS`` ``BACKEND`` path is the in-memory layer (checked without making it)."""
    try:
        layer_class = import_string(backend)
    except ImportError:
        return False
    return isinstance(layer_class, type) and issubclass(layer_class, InMemoryChannelLayer)


def group_name(channel: str) -> str:
    return f"sse.{channel}"


def layer_message(
    channel: str, seq: int, event: str | None, data: str, ts: float, check: int | None = None
) -> dict[str, Any]:
    # ts: the publish time, for the delivery-lag figures (older senders leave it out);
    # check: the event's check in the log, which ids carry (older senders leave it out).
    message = {"type": MESSAGE_TYPE, "channel": channel, "seq": seq, "event": event, "data": data, "ts": ts}
    if check is not None:
        message["check"] = check
    return message


def _read_message(
    message: dict[str, Any],
) -> tuple[str, int, str | None, str, float | None, int | None] | None:
    if message.get("type") != MESSAGE_TYPE:
        return None
    try:
        check = message.get("check")
        return (
            message["channel"],
            int(message["seq"]),
            message.get("event"),
            message["data"],
            message.get("ts"),
            None if check is None else int(check),
        )
    except (KeyError, TypeError, ValueError):
        logger.warning("ignored a malformed %s message", MESSAGE_TYPE)
        return None


# This process, in access notices: a hub skips its own (it heard them directly).
_origin: tuple[int, str] | None = None


def process_origin() -> str:
    global _origin
    if _origin is None or _origin[0] != os.getpid():  # a forked child is another process
        _origin = (os.getpid(), f"{os.getpid()}-{os.urandom(6).hex()}")
    return _origin[1]


def access_message(users: list[str], channels: list[str]) -> dict[str, Any]:
    return {"type": ACCESS_TYPE, "users": users, "channels": channels, "origin": process_origin()}


def _read_access(message: dict[str, Any]) -> tuple[list[str], list[str]] | None:
    if message.get("origin") == process_origin():
        return None
    users, channels = message.get("users"), message.get("channels")
    if not isinstance(users, list) or not isinstance(channels, list):
        logger.warning("ignored a malformed %s message", ACCESS_TYPE)
        return None
    return [str(u) for u in users], [str(c) for c in channels]


# -- sending (any process) --------------------------------------------------


class _Sender:
    """Layer sends from sync code, on one event-loop thread per process.

    ``async_to_sync`` would start an event loop per call, and channels_redis keeps
    its connections per loop: that is a new Redis connection for every event.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._down_until = 0.0

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float) -> bool:
        """Run ``coro`` on the sender loop; False if skipped because the layer just failed."""
        if time.monotonic() < self._down_until:
            coro.close()
            return False
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            self._down_until = time.monotonic() + _SEND_BACKOFF
            raise TimeoutError(f"no answer in {timeout}s") from None
        except BaseException:
            self._down_until = time.monotonic() + _SEND_BACKOFF
            raise
        return True

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked child needs its own
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="sse-publish", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop


_sender = _Sender()


def send_event(
    channel: str, seq: int, event: str | None, data: str, ts: float, check: int | None = None
) -> None:
    """Hand a committed event to the hubs of other processes (blocking; never raises)."""
    layer = get_layer()
    if not reaches_other_processes(layer):
        return  # their hubs read the log
    assert layer is not None
    try:
        _sender.run(
            layer.group_send(group_name(channel), layer_message(channel, seq, event, data, ts, check)),
            _SEND_TIMEOUT,
        )
    except Exception as exc:
        logger.warning(
            "channel layer send to %s failed (%s); for %ss hubs read events from the log only",
            channel,
            exc,
            _SEND_BACKOFF,
        )


def send_access_notice(users: list[str], channels: list[str]) -> None:
    """Tell the hubs of other processes that these users' streams, and the streams on these
    channels, must have their access re-checked (blocking, so the notice is in the layer
    before the caller goes on; never raises)."""
    layer = get_layer()
    if not reaches_other_processes(layer):
        return  # no other process hears this layer: only the periodic re-check reaches them
    assert layer is not None
    try:
        _sender.run(layer.group_send(ACCESS_GROUP, access_message(users, channels)), _SEND_TIMEOUT)
    except Exception as exc:
        logger.warning(
            "channel layer send of an access change failed (%s); other processes find it "
            "at their periodic re-check",
            exc,
        )


# -- receiving (a hub's process) ---------------------------------------------


class LayerLink:
    """One hub's side of the layer: one layer channel, group memberships, one receive loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        on_event: OnEvent,
        on_error: Callable[[], None],
        wanted: Callable[[], Collection[str]],
        on_access: OnAccess | None = None,
    ) -> None:
        layer = get_layer()
        if layer is None:
            raise RuntimeError("sse needs a channel layer: set CHANNEL_LAYERS (see the sse.E001 check)")
        self.layer = layer
        self.reaches_other_processes = reaches_other_processes(layer)
        self.loop = loop
        self.on_event = on_event
        self.on_error = on_error
        self.on_access = on_access
        # The channels the hub has streams on (none once it stops).
        self.wanted = wanted
        self.channel: str | None = None
        #: Channels whose layer group this process is in (as far as the layer said).
        self.members: set[str] = set()
        self._membership: asyncio.Queue[tuple[str, str, asyncio.Future[None]]] = asyncio.Queue()
        self._add_retries: set[str] = set()
        # When each group was last re-added because the log had what the layer had not.
        self._rejoined: dict[str, float] = {}

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        if self.reaches_other_processes and self.on_access is not None:
            self._queue("add", _ACCESS)  # first: access notices reach this hub from now on
        return [self._membership_worker(), self._receive_loop(), self._refresh_loop()]

    def join(self, name: str) -> asyncio.Future[None]:
        """Add this process to ``name``'s group; done when the layer answered (or failed)."""
        return self._queue("add", name)

    def leave(self, name: str) -> None:
        self._rejoined.pop(name, None)
        self._queue("discard", name)

    def rejoin_all(self) -> None:
        # Idempotent: layers forget memberships after group_expiry, Redis forgets on restart.
        if self.reaches_other_processes and self.on_access is not None:
            self._queue("add", _ACCESS)
        for name in list(self.wanted()):
            self._queue("add", name)

    async def _refresh_loop(self) -> None:
        # Add every membership again before the layer's group_expiry forgets it.
        while True:
            await asyncio.sleep(conf.SSE_GROUP_REFRESH_SECONDS)
            self.rejoin_all()

    def rejoin_lagging(self, name: str) -> None:
        """The log had events the layer did not bring: re-add now and then, in case it forgot us."""
        if not self.reaches_other_processes:
            return
        now = self.loop.time()
        if now - self._rejoined.get(name, -1e9) >= 10 * _RETRY_SECONDS:
            self._rejoined[name] = now
            self._queue("add", name)

    def _queue(self, op: str, name: str) -> asyncio.Future[None]:
        done: asyncio.Future[None] = self.loop.create_future()
        self._membership.put_nowait((op, name, done))
        return done

    async def _membership_worker(self) -> None:
        # One worker applies add/discard in order, so a quick leave-and-rejoin
        # never ends with the discard landing last.
        while True:
            op, name, done = await self._membership.get()
            try:
                channel = await self._channel()
                group = ACCESS_GROUP if name == _ACCESS else group_name(name)
                if op == "add":
                    await self.layer.group_add(group, channel)
                    if name != _ACCESS:
                        self.members.add(name)
                else:
                    self.members.discard(name)
                    await self.layer.group_discard(group, channel)
            except Exception as exc:  # layer down: the log keeps streams fed
                self.on_error()
                logger.warning("channel layer %s of %s failed: %s", op, name, exc)
                if op == "add" and name not in self._add_retries:
                    # Keep trying: until the layer is back, this group lives on log polls.
                    self._add_retries.add(name)
                    self.loop.call_later(_RETRY_SECONDS * 2, self._retry_add, name)
            if not done.done():
                done.set_result(None)

    def _retry_add(self, name: str) -> None:
        self._add_retries.discard(name)
        if name == _ACCESS or name in self.wanted():
            self._queue("add", name)

    async def _channel(self) -> str:
        if self.channel is None:
            self.channel = await self.layer.new_channel(prefix="sse-hub.")  # type: ignore[call-arg]  # in-memory and Redis layers take prefix; the base class does not
        return self.channel

    async def _receive_loop(self) -> None:
        # One long-lived receive: cancelling receive() loses messages on some layers.
        backoff = 0.5
        while True:
            try:
                message = await self.layer.receive(await self._channel())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.on_error()
                logger.warning("channel layer receive failed (%s); retrying", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self.rejoin_all()
                continue
            backoff = 0.5
            if message.get("type") == ACCESS_TYPE:
                notice = _read_access(message)
                if notice is not None and self.on_access is not None:
                    try:
                        self.on_access(*notice)
                    except Exception:
                        logger.exception("an access notice failed")
                continue
            fields = _read_message(message)
            if fields is not None:
                self.on_event(*fields)
