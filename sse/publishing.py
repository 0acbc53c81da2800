"""publish() / apublish(): log the event, then hand it to every process's hub."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.core.serializers.json import DjangoJSONEncoder

from sse.conf import conf
from sse.cursor import channel_tag
from sse.encoding import Event
from sse.hub import ChannelHub
from sse.layer import send_event
from sse.registry import is_ephemeral, validate_channel_name
from sse.storage import get_event_log

__all__ = ["apublish", "publish"]

_MAX_EVENT_NAME = 100


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
    send_event(channel, seq, event, data, ts)
