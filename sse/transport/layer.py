"""The channel layer, both ways: which layer, and sends from publishers (any process).

The layer is only a fast path between processes. Every event is in the log first;
a hub that misses one (a dropped message, a Redis outage, the in-memory layer that
reaches no other process) finds it there. The messages are in ``sse.transport.messages``,
the sending thread in ``sse.transport.sender`` (the runtime's), a hub's side in
``sse.transport.link``.
"""

from __future__ import annotations

import logging

from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from django.utils.module_loading import import_string

from sse import runtime
from sse.conf import conf
from sse.transport.messages import ACCESS_GROUP, access_message, group_name, layer_message
from sse.transport.sender import SEND_BACKOFF, SEND_TIMEOUT, ProcessTransport

__all__ = [
    "ACCESS_GROUP",
    "backend_is_in_memory",
    "get_layer",
    "group_name",
    "reaches_other_processes",
    "send_access_notice",
    "send_event",
]

logger = logging.getLogger("sse.layer")


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


def send_event(
    channel: str,
    seq: int,
    event: str | None,
    data: str,
    ts: float,
    check: int | None = None,
    row: int | None = None,
) -> None:
    """Hand a committed event to the hubs of other processes (blocking; never raises)."""
    layer = get_layer()
    if not reaches_other_processes(layer):
        return  # their hubs read the log
    assert layer is not None
    try:
        runtime.get().part(ProcessTransport).sender.run(
            layer.group_send(group_name(channel), layer_message(channel, seq, event, data, ts, check, row)),
            SEND_TIMEOUT,
        )
    except Exception as exc:
        logger.warning(
            "channel layer send to %s failed (%s); for %ss hubs read events from the log only",
            channel,
            exc,
            SEND_BACKOFF,
        )


def send_access_notice(users: list[str], channels: list[str]) -> None:
    """Tell the hubs of other processes that these users' streams, and the streams on these
    channels, must have their access re-checked (blocking, so the notice is in the layer
    before the caller goes on; never raises)."""
    layer = get_layer()
    if not reaches_other_processes(layer):
        return  # no other process hears this layer: only the periodic re-check reaches them
    assert layer is not None
    rt = runtime.get().part(ProcessTransport)
    try:
        notice = access_message(users, channels, rt.process_origin())
        rt.sender.run(layer.group_send(ACCESS_GROUP, notice), SEND_TIMEOUT)
    except Exception as exc:
        logger.warning(
            "channel layer send of an access change failed (%s); other processes find it "
            "at their periodic re-check",
            exc,
        )
