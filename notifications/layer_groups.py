"""A server process's place in a channel-layer group, for the demo's features across processes.

The console's control messages and the dashboard's channel rows go to every server
process over a group of the channel layer (Redis with several processes). Each process
joins with a layer channel of its own and hands what arrives to its feature.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sse import ChannelHub
from sse.transport.layer import get_layer

__all__ = ["GROUP_REFRESH_SECONDS", "follow_group"]

logger = logging.getLogger("notifications")

# Layers forget a group's members after their group_expiry (a day by default): join again.
GROUP_REFRESH_SECONDS = 600.0


async def follow_group(
    hub: ChannelHub, group: str, on_message: Callable[[dict[str, Any]], None], what: str
) -> None:
    """Hand every message sent to ``group`` to ``on_message``, while ``hub`` runs.

    ``what`` names the feature in the warning logged when the layer fails (then it retries).
    """
    layer = get_layer()
    assert layer is not None
    name: str | None = None
    joined = 0.0
    while hub.active:
        try:
            if name is None:
                # The prefix the hub's own layer channel has: channels-redis reads all the
                # process-local channels of one prefix with one receive, and a second prefix
                # waits behind the hub's never-ending receive (its messages never came).
                name = await layer.new_channel(prefix="sse-hub.")  # type: ignore[call-arg]
            if hub.loop.time() - joined > GROUP_REFRESH_SECONDS:
                await layer.group_add(group, name)
                joined = hub.loop.time()
            message = await asyncio.wait_for(layer.receive(name), GROUP_REFRESH_SECONDS)
        except TimeoutError:
            continue
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("%s failed (%s); retrying", what, exc)
            joined = 0.0
            await asyncio.sleep(2.0)
            continue
        on_message(message)
