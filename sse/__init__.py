"""Server-sent events for Django: publish() from anywhere, stream to browsers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "ChannelHub",
    "ChannelNotFound",
    "Event",
    "EventStreamResponse",
    "FirstEvents",
    "HubStats",
    "aaccess_changed",
    "access_changed",
    "apublish",
    "apublish_html",
    "channel",
    "follow_membership",
    "issue_token",
    "open_stream",
    "publish",
    "publish_html",
    "register_channel",
    "stream_response",
]

if TYPE_CHECKING:
    from sse.auth.access_changes import aaccess_changed, access_changed
    from sse.auth.tokens import issue_token
    from sse.auth.user_signals import follow_membership
    from sse.channels.registry import ChannelNotFound, channel, register_channel
    from sse.hub.channel_hub import ChannelHub
    from sse.hub.stats import HubStats
    from sse.publishing.fragments import apublish_html, publish_html
    from sse.publishing.publish import apublish, publish
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
