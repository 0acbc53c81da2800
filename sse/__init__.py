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
    from sse.encoding import Event
    from sse.fragments import apublish_html, publish_html
    from sse.hub import ChannelHub
    from sse.publishing import apublish, publish
    from sse.registry import ChannelNotFound, channel, register_channel
    from sse.response import EventStreamResponse
    from sse.revocation import aaccess_changed, access_changed, follow_membership
    from sse.stats import HubStats
    from sse.streams import FirstEvents, open_stream, stream_response
    from sse.tokens import issue_token

_LAZY = {
    "ChannelHub": "sse.hub",
    "ChannelNotFound": "sse.registry",
    "Event": "sse.encoding",
    "EventStreamResponse": "sse.response",
    "FirstEvents": "sse.streams",
    "HubStats": "sse.stats",
    "aaccess_changed": "sse.revocation",
    "access_changed": "sse.revocation",
    "follow_membership": "sse.revocation",
    "apublish": "sse.publishing",
    "apublish_html": "sse.fragments",
    "channel": "sse.registry",
    "issue_token": "sse.tokens",
    "open_stream": "sse.streams",
    "publish": "sse.publishing",
    "publish_html": "sse.fragments",
    "register_channel": "sse.registry",
    "stream_response": "sse.streams",
}


def __getattr__(name: str) -> Any:
    # Lazy so `import sse` works before Django's app registry is ready.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sse' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
