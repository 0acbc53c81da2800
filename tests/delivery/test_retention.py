"""The log keeps a window: resume inside it is exact, an id older than it gets ``reset``."""

from __future__ import annotations

import asyncio
import json

from tests.delivery.client import Ledger, follow, open_stream
from tests.delivery.conftest import finish, fresh_channels
from tests.servers import manage


async def test_an_id_older_than_the_log_gets_reset_then_live(make_site: object) -> None:
    site = make_site(SSE_LOG_MAX_EVENTS_PER_CHANNEL="5")
    channels = fresh_channels("retention", 1)
    stream = await open_stream(site.url, channels, cookie=site.cookie)
    try:
        opening = await anext(stream.items())
    finally:
        stream.abort()
    tag = opening.id.split(":")[0]  # type: ignore[union-attr]
    assert opening.id == f"{tag}:0"

    await asyncio.to_thread(finish, site.publisher(channels, tag="p", count=20))
    trimmed = await asyncio.to_thread(manage, site.env, "sse_trim")
    assert trimmed.stdout.strip() == "deleted 15 events"

    # Inside the window (events 16..20 are kept): exact replay, no reset.
    inside = Ledger(channels)
    inside.positions, inside.last_id = [17], f"{tag}:17"
    await follow(site.url, channels, inside, cookie=site.cookie, done=lambda: len(inside.got) >= 3)
    inside.check({("p", i) for i in (17, 18, 19)})

    # Older than the window: reset first, then live events.
    stream = await open_stream(site.url, channels, cookie=site.cookie, last_event_id=f"{tag}:3")
    try:
        items = stream.items()
        reset = await anext(items)
        assert (reset.event, json.loads(reset.data or "")) == ("reset", {"reason": "expired"})
        assert reset.id == f"{tag}:20"
        await asyncio.to_thread(finish, site.publisher(channels, tag="p", count=1, start=20))
        live = await asyncio.wait_for(anext(items), 30)
    finally:
        stream.abort()
    assert (live.id, live.json()["i"]) == (f"{tag}:21", 20)  # type: ignore[index]
