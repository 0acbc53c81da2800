"""A hub's side of the channel layer: its layer channel, ordered group membership, the receive loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Coroutine
from typing import Any

from sse import runtime
from sse.conf import conf
from sse.transport.layer import get_layer, reaches_other_processes
from sse.transport.messages import (
    ACCESS_GROUP,
    ACCESS_TYPE,
    OnAccess,
    OnEvent,
    group_name,
    read_access,
    read_message,
)
from sse.transport.sender import ProcessTransport

__all__ = ["LayerLink"]

logger = logging.getLogger("sse.layer")

_RETRY_SECONDS = 1.0
# The access group's place in the membership queue (beside channel names, never one of them).
_ACCESS = "<access>"


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
        # This process in access notices: its own are skipped (the hub heard them directly).
        self._origin = runtime.get().part(ProcessTransport).process_origin()
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
                notice = read_access(message, self._origin)
                if notice is not None and self.on_access is not None:
                    try:
                        self.on_access(*notice)
                    except Exception:
                        logger.exception("an access notice failed")
                continue
            fields = read_message(message)
            if fields is not None:
                self.on_event(*fields)
