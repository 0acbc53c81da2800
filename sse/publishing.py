"""publish() / apublish(): log the event, then hand it to every process's hub."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import threading
import time
from collections.abc import Coroutine
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder

from sse.conf import conf
from sse.cursor import channel_tag
from sse.encoding import Event
from sse.hub import ChannelHub, group_name, layer_message
from sse.registry import is_ephemeral, validate_channel_name
from sse.storage import get_event_log

__all__ = ["apublish", "publish"]

logger = logging.getLogger("sse.publish")

_MAX_EVENT_NAME = 100
# A layer send that takes longer is given up: the event is in the log, hubs find it there.
_LAYER_SEND_TIMEOUT = 5.0
# After a failed send, skip the layer this long: publishers must not wait on a dead Redis
# for every event, and the hubs poll the log meanwhile.
_LAYER_BACKOFF = 2.0


class _LayerSender:
    """Channel-layer sends from sync code, on one event-loop thread per process.

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
            self._down_until = time.monotonic() + _LAYER_BACKOFF
            raise TimeoutError(f"no answer in {timeout}s") from None
        except BaseException:
            self._down_until = time.monotonic() + _LAYER_BACKOFF
            raise
        return True

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked child needs its own
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="sse-publish", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop


_sender = _LayerSender()


def _prepare(channel: str, data: Any, event: str | None) -> tuple[str, str | None, str]:
    validate_channel_name(channel)
    if event is not None:
        if not isinstance(event, str):
            raise ValueError("event must be a string")
        if len(event) > _MAX_EVENT_NAME:
            raise ValueError(f"event name longer than {_MAX_EVENT_NAME} characters")
    try:
        # allow_nan=False: NaN and Infinity are not JSON; JSON.parse in the browser rejects them.
        text = json.dumps(
            data, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"data is not JSON-serialisable: {exc}") from exc
    # Building the Event validates every field the way the stream will write it.
    Event(data=text, event=event)
    if len(text.encode()) > conf.SSE_MAX_EVENT_BYTES:
        raise ValueError(f"event data larger than SSE_MAX_EVENT_BYTES ({conf.SSE_MAX_EVENT_BYTES})")
    return channel, event, text


def publish(channel: str, data: Any, *, event: str | None = None) -> str:
    """Send ``data`` (as JSON) to every stream on ``channel``; return the event id.

    Inside ``transaction.atomic()`` the event goes out when the transaction
    commits, and never if it rolls back.
    """
    channel, event, text = _prepare(channel, data, event)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("publish() was called from async code: use 'await sse.apublish(...)'")
    log = get_event_log()
    seq = log.append(channel, event, text, ephemeral=is_ephemeral(channel))
    log.on_commit(lambda: _deliver(channel, seq, event, text))
    return f"{channel_tag((channel,))}:{seq}"


async def apublish(channel: str, data: Any, *, event: str | None = None) -> str:
    """Async form of :func:`publish`."""
    _prepare(channel, data, event)  # fail fast, before a thread hop
    return await sync_to_async(publish)(channel, data, event=event)


def _deliver(channel: str, seq: int, event: str | None, data: str) -> None:
    ts = time.time()  # publish time, carried for the delivery-lag figures
    hub = ChannelHub.running()
    if hub is not None:
        hub.deliver_threadsafe(channel, seq, event, data, ts)
    layer = get_channel_layer(conf.SSE_CHANNEL_LAYER)
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        # The in-memory layer reaches no other process: their hubs read the log.
        return
    try:
        _sender.run(
            layer.group_send(group_name(channel), layer_message(channel, seq, event, data, ts)),
            _LAYER_SEND_TIMEOUT,
        )
    except Exception as exc:
        # Hubs find it in the log when the layer lets them down.
        logger.warning(
            "channel layer send to %s failed (%s); for %ss hubs read events from the log only",
            channel,
            exc,
            _LAYER_BACKOFF,
        )
