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
        items = stream.items()
        opening = await anext(items)
        # The ids a client had after each event (they carry the checks of their events).
        await asyncio.to_thread(finish, site.publisher(channels, tag="p", count=20))
        ids = [(await asyncio.wait_for(anext(items), 30)).id for _ in range(20)]
    finally:
        stream.abort()
    tag = opening.id.split(":")[0]  # type: ignore[union-attr]
    assert opening.id == f"{tag}:0"

    trimmed = await asyncio.to_thread(manage, site.env, "sse_trim")
    assert trimmed.stdout.strip() == "deleted 15 events"

    # Inside the window (events 16..20 are kept): exact replay, no reset.
    inside = Ledger(channels)
    inside.positions, inside.last_id = [17], ids[16]
    await follow(site.url, channels, inside, cookie=site.cookie, done=lambda: len(inside.got) >= 3)
    inside.check({("p", i) for i in (17, 18, 19)})
    # At its edge: event 15 is trimmed, and event 16 (which keeps its check) vouches for it.
    edge = Ledger(channels)
    edge.positions, edge.last_id = [15], ids[14]
    await follow(site.url, channels, edge, cookie=site.cookie, done=lambda: len(edge.got) >= 5)
    edge.check({("p", i) for i in range(15, 20)})

    # Older than the window: reset first, then live events.
    stream = await open_stream(site.url, channels, cookie=site.cookie, last_event_id=f"{tag}:3")
    try:
        items = stream.items()
        reset = await anext(items)
        assert (reset.event, json.loads(reset.data or "")) == ("reset", {"reason": "expired"})
        assert reset.id == ids[-1]
        await asyncio.to_thread(finish, site.publisher(channels, tag="p", count=1, start=20))
        live = await asyncio.wait_for(anext(items), 30)
    finally:
        stream.abort()
    assert (live.id.split(":")[1].partition("_")[0], live.json()["i"]) == ("21", 20)  # type: ignore[index,union-attr]
