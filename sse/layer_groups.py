"""Messages between a site's server processes over the channel layer (public API).

Apps' per-process features (an operator console's disconnects, a dashboard merging each
process's figures) reach every server process through a group of the channel layer
``SSE_CHANNEL_LAYER`` names: each process follows the group with a layer channel of its
own, while its hub runs. With the in-memory layer only this process hears
(``ChannelHub.layer_reaches_other_processes`` says which).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sse.hub.channel_hub import ChannelHub
from sse.transport.layer import get_layer

__all__ = ["GROUP_REFRESH_SECONDS", "follow_group", "send_to_group"]

logger = logging.getLogger("sse.layer_groups")

# Layers forget a group's members after their group_expiry (a day by default): join again.
GROUP_REFRESH_SECONDS = 600.0
# The prefix of the hub's own layer channel: channels-redis reads all the process-local
# channels of one prefix with one receive, and a second prefix waits behind the hub's
# never-ending receive (its messages never came).
_PROCESS_PREFIX = "sse-hub."


async def send_to_group(group: str, message: dict[str, Any]) -> bool:
    """Send ``message`` (a dict with a ``"type"``) to every process following ``group``;
    False when no channel layer is configured."""
    layer = get_layer()
    if layer is None:
        return False
    await layer.group_send(group, message)
    return True


async def follow_group(
    hub: ChannelHub, group: str, on_message: Callable[[dict[str, Any]], None], what: str
) -> None:
    """Hand every message sent to ``group`` to ``on_message`` (on the hub's loop), while
    ``hub`` runs: run it as a task on ``hub.loop``. ``what`` names the feature in the warning
    logged when the layer fails (then it retries every 2 s)."""
    layer = get_layer()
    assert layer is not None
    name: str | None = None
    joined = 0.0
    while hub.active:
        try:
            if name is None:
                name = await layer.new_channel(prefix=_PROCESS_PREFIX)  # type: ignore[call-arg]
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
