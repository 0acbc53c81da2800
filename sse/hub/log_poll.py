"""The hub's log poll: what the layer did not bring is found in the log.

Events from processes the layer does not connect (the in-memory layer), and anything the
layer lost, show as a log head past what a channel delivered; a head behind it (or at
it with another check) is a log restored from a backup or emptied.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from sse.conf import conf
from sse.wire.cursor import LogPosition

if TYPE_CHECKING:
    from sse.hub.groups import ChannelGroup

__all__ = ["poll_forever", "rewound"]

logger = logging.getLogger("sse.hub")


def rewound(delivered: LogPosition, head: LogPosition) -> bool:
    """The log's ``head`` no longer holds what was ``delivered`` before it was read."""
    if head.seq < delivered.seq:
        return True
    return (
        head.seq == delivered.seq
        and head.check is not None
        and delivered.check is not None
        and head.check != delivered.check
    )


async def poll_forever(
    groups: Mapping[str, ChannelGroup],
    read_heads: Callable[[Sequence[str]], Awaitable[dict[str, LogPosition]]],
    behind: Callable[[str], None],
    read_row: Callable[[], Awaitable[int | None]],
    settle: Callable[[int | None], None],
) -> None:
    """Every ``SSE_LOG_POLL_SECONDS``, compare the log's heads of ``groups`` (the hub's, followed)
    with what they delivered; ``behind(name)``: the log has more of that channel.

    ``read_row()``, read first: the log's last row (None: not wanted); when no channel is
    behind nor joining, ``settle(row)``: everything up to it was delivered (sse.hub.order).
    """
    while True:
        await asyncio.sleep(conf.SSE_LOG_POLL_SECONDS)
        try:
            row = await read_row()
            # What was delivered before the read: the log holds all of it (delivered once committed).
            before = {name: g.head for name, g in groups.items() if not g.joining}
            if not before:
                continue
            heads = await read_heads(list(before))
        except Exception as exc:
            logger.warning("polling the event log failed: %s", exc)
            continue
        if _compare(groups, before, heads, behind) and len(before) == len(groups):
            settle(row)


def _compare(
    groups: Mapping[str, ChannelGroup],
    before: dict[str, LogPosition],
    heads: dict[str, LogPosition],
    behind: Callable[[str], None],
) -> bool:
    """Act on what the heads show; True when every channel was where the hub had it."""
    level = True
    for name, head in heads.items():
        group = groups.get(name)
        if group is None or group.joining:
            level = False
            continue
        if rewound(before[name], head):
            logger.warning(
                "the event log of %s went back (restored or emptied): at %s, this server "
                "had delivered up to %s; its streams end and resume with reset",
                name,
                head.seq,
                before[name].seq,
            )
            group.rewound(head if group.head == before[name] else group.head)
            level = False
        elif head.seq > group.last_seq:
            behind(name)
            level = False
    return level
