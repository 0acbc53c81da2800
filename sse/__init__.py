"""Server-sent events for Django: publish() from anywhere, stream to browsers.

The public API is the names here (``__all__``) and the modules ``sse.asgi``,
``sse.daphne``, ``sse.urls``, ``sse.api.urls``, ``sse.testing``, ``sse.signals``,
``sse.storage`` (the event log's interface), ``sse.ids``, ``sse.operator`` and
``sse.layer_groups``; every other module of ``sse`` is internal and may change
(``.importlinter`` holds the demo apps to this).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "UNAVAILABLE_ERRORS",
    "ChannelHub",
    "ChannelNotFound",
    "Event",
    "EventStreamResponse",
    "FirstEvents",
    "HubStats",
    "LogPosition",
    "StreamRefused",
    "StreamUnavailable",
    "aaccess_changed",
    "access_changed",
    "apublish",
    "apublish_html",
    "authenticate_stream",
    "channel",
    "event_id",
    "follow_membership",
    "issue_token",
    "last_event_id",
    "open_stream",
    "publish",
    "publish_html",
    "read_event_id",
    "register_channel",
    "requested_rate",
    "stream_response",
]

if TYPE_CHECKING:
    from sse.auth.access_changes import aaccess_changed, access_changed
    from sse.auth.tokens import issue_token
    from sse.auth.user_signals import follow_membership
    from sse.channels.registry import ChannelNotFound, channel, register_channel
    from sse.hub.channel_hub import ChannelHub
    from sse.hub.stats import HubStats
    from sse.ids import LogPosition, event_id, read_event_id
    from sse.publishing.fragments import apublish_html, publish_html
    from sse.publishing.publish import apublish, publish
    from sse.streams.access import (
        UNAVAILABLE_ERRORS,
        StreamRefused,
        StreamUnavailable,
        authenticate_stream,
        last_event_id,
        requested_rate,
    )
    from sse.streams.response import EventStreamResponse
    from sse.streams.stream import FirstEvents, open_stream, stream_response
    from sse.wire.encoding import Event

_LAZY = {
    "ChannelHub": "sse.hub.channel_hub",
    "ChannelNotFound": "sse.channels.registry",
    "Event": "sse.wire.encoding",
    "EventStreamResponse": "sse.streams.response",
    "FirstEvents": "sse.streams.stream",
    "HubStats": "sse.hub.stats",
    "LogPosition": "sse.ids",
    "StreamRefused": "sse.streams.access",
    "StreamUnavailable": "sse.streams.access",
    "UNAVAILABLE_ERRORS": "sse.streams.access",
    "authenticate_stream": "sse.streams.access",
    "event_id": "sse.ids",
    "last_event_id": "sse.streams.access",
    "read_event_id": "sse.ids",
    "requested_rate": "sse.streams.access",
    "aaccess_changed": "sse.auth.access_changes",
    "access_changed": "sse.auth.access_changes",
    "follow_membership": "sse.auth.user_signals",
    "apublish": "sse.publishing.publish",
    "apublish_html": "sse.publishing.fragments",
    "channel": "sse.channels.registry",
    "issue_token": "sse.auth.tokens",
    "open_stream": "sse.streams.stream",
    "publish": "sse.publishing.publish",
    "publish_html": "sse.publishing.fragments",
    "register_channel": "sse.channels.registry",
    "stream_response": "sse.streams.stream",
}


def __getattr__(name: str) -> Any:
    # Lazy so `import sse` works before Django's app registry is ready.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sse' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
