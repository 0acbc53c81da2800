"""What a hub's parts are given instead of the hub: its loop, counters, queue bounds, callbacks.

The :class:`~sse.hub.channel_hub.ChannelHub` builds these once and hands them to its
streams and channel groups, which keep them (not the hub): nothing here imports the hub.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass

from sse.hub.stats import Counts
from sse.wire.cursor import LogPosition

__all__ = ["GroupParts", "StreamParts"]


@dataclass(frozen=True, slots=True)
class StreamParts:
    """What one open stream uses of its hub: the loop, the counters, and the numbers of the
    process's streams (its runtime's ``ProcessHub.serials``)."""

    loop: asyncio.AbstractEventLoop
    counts: Counts
    serials: Iterator[int]


@dataclass(frozen=True, slots=True)
class GroupParts:
    """What one channel's group uses of its hub."""

    loop: asyncio.AbstractEventLoop
    counts: Counts
    #: Seconds from publish to fan-out, sampled (the hub's ``delivery_lags``).
    lags: deque[float]
    #: Join the channel's layer group (``LayerLink.join``).
    join_layer: Callable[[str], Awaitable[None]]
    #: The log's heads of channels, with their checks (``LogThreads.heads``).
    read_heads: Callable[[Sequence[str]], Awaitable[dict[str, LogPosition]]]
    #: The channel is behind the log: read what every channel missed (``CatchUp.start``).
    catch_up: Callable[[str], None]
