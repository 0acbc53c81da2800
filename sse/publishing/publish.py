"""publish() / apublish(): log the event, then hand it to every process's hub."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.core.serializers.json import DjangoJSONEncoder

from sse import runtime
from sse.channels.registry import is_ephemeral, validate_channel_name
from sse.conf import conf
from sse.hub.channel_hub import ChannelHub
from sse.storage.current import CurrentLog
from sse.transport.layer import send_event
from sse.wire.cursor import channel_tag, format_cursor, new_check
from sse.wire.encoding import Event

__all__ = ["apublish", "apublish_text", "publish", "publish_text"]

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
    _check_text(event, text)
    return channel, event, text


def _check_text(event: str | None, text: str) -> None:
    # Building the Event validates every field the way the stream will write it.
    Event(data=text, event=event)
    if len(text.encode()) > conf.SSE_MAX_EVENT_BYTES:
        raise ValueError(f"event data larger than SSE_MAX_EVENT_BYTES ({conf.SSE_MAX_EVENT_BYTES})")


def publish(channel: str, data: Any, *, event: str | None = None) -> str:
    """Send ``data`` (as JSON) to every stream on ``channel``; return the event id.

    Inside ``transaction.atomic()`` the event goes out when the transaction
    commits, and never if it rolls back.
    """
    channel, event, text = _prepare(channel, data, event)
    return _append(channel, event, text, "publish")


def publish_text(channel: str, text: str, *, event: str | None = None) -> str:
    """Send ``text`` as it is (an HTML fragment, say) to every stream on ``channel``.

    Like :func:`publish`, but the event's data is ``text`` itself, not JSON: the log
    stores it unchanged and the stream writes each of its lines as a ``data:`` line.
    """
    _prepare_text(channel, text, event)
    return _append(channel, event, text, "publish_text")


async def apublish_text(channel: str, text: str, *, event: str | None = None) -> str:
    """Async form of :func:`publish_text`."""
    _prepare_text(channel, text, event)
    return await sync_to_async(publish_text)(channel, text, event=event)


def _prepare_text(channel: str, text: str, event: str | None) -> None:
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, not {type(text).__name__}")
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise ValueError(f"text is not valid Unicode: {exc}") from exc
    _prepare(channel, None, event)  # the channel and event name, as publish() checks them
    _check_text(event, text)


def _append(channel: str, event: str | None, text: str, caller: str) -> str:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(f"{caller}() was called from async code: use 'await sse.a{caller}(...)'")
    rt = runtime.get().part(CurrentLog)
    log = rt.log
    if log.keeps_checks:
        # Drawn here, so the id returned and the one streams send carry the check the log keeps.
        check: int | None = new_check()
        seq, row = log.append_numbered(channel, event, text, ephemeral=is_ephemeral(channel), check=check)
    else:
        check = None
        seq, row = log.append_numbered(channel, event, text, ephemeral=is_ephemeral(channel))
    log.on_commit(lambda: _deliver(channel, seq, event, text, check, row))
    # The log's name, as append read it (the id returned names the log).
    log_id = rt.log_id or rt.adopt_log_id()
    return format_cursor(channel_tag((channel,), log_id), [seq], [check])


async def apublish(channel: str, data: Any, *, event: str | None = None) -> str:
    """Async form of :func:`publish`."""
    _prepare(channel, data, event)  # fail fast, before a thread hop
    return await sync_to_async(publish)(channel, data, event=event)


def _deliver(
    channel: str, seq: int, event: str | None, data: str, check: int | None, row: int | None
) -> None:
    ts = time.time()  # publish time, carried for the delivery-lag figures
    hub = ChannelHub.running()
    if hub is not None:
        hub.deliver_threadsafe(channel, seq, event, data, ts, check, row)
    send_event(channel, seq, event, data, ts, check, row)
