"""A burst committed at once in the server process reaches a stream whose queue is far smaller.

In process (sse.testing over the ASGI app), so the client reads as fast as the server
writes and the only bound in play is the hub's: it fans a burst out a slice (256
events) per loop turn, and the stream writes between slices, so a queue of 300 frames
never overflows. With the whole burst fanned out in one go the stream would be cut off.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction
from django.test import AsyncClient, override_settings

import sse
import sse.testing

BURST = 5000


def publish_burst(channel: str) -> None:
    with transaction.atomic():
        for number in range(BURST):
            sse.publish(channel, {"n": number}, event="tick")


@pytest.mark.django_db(transaction=True)
@override_settings(SSE_QUEUE_MAX_FRAMES=300)
async def test_a_burst_arrives_whole_through_a_queue_smaller_than_it(async_client: AsyncClient) -> None:
    async with sse.testing.connect(async_client, "/state-first/?channel=scratch.burst") as stream:
        assert (await stream.next_event()).event == "state"
        await sync_to_async(publish_burst)("scratch.burst")
        events = await stream.events(BURST, timeout=120)
        assert [e.json()["n"] for e in events] == list(range(BURST))
        await stream.assert_no_event(within=0.2)
        assert not stream.ended, "the stream was cut off"
