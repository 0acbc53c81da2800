"""Server-sent events for Django: publish() from anywhere, stream to browsers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "ChannelNotFound",
    "Event",
    "EventStreamResponse",
    "apublish",
    "channel",
    "issue_token",
    "open_stream",
    "publish",
    "register_channel",
]

if TYPE_CHECKING:
    from sse.encoding import Event
    from sse.publishing import apublish, publish
    from sse.registry import ChannelNotFound, channel, register_channel
    from sse.response import EventStreamResponse
    from sse.streams import open_stream
    from sse.tokens import issue_token

_LAZY = {
    "ChannelNotFound": "sse.registry",
    "Event": "sse.encoding",
    "EventStreamResponse": "sse.response",
    "apublish": "sse.publishing",
    "channel": "sse.registry",
    "issue_token": "sse.tokens",
    "open_stream": "sse.streams",
    "publish": "sse.publishing",
    "register_channel": "sse.registry",
}


def __getattr__(name: str) -> Any:
    # Lazy so `import sse` works before Django's app registry is ready.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sse' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
