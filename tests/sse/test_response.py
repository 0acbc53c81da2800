"""EventStreamResponse in process: headers, the opening block, heartbeats, on_close once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from django.test import override_settings

from sse import Event, EventStreamResponse
from sse.testing import parse_events


async def body(response: EventStreamResponse) -> list[bytes]:
    return [chunk async for chunk in response.streaming_content]


async def items() -> AsyncIterator[Event | bytes | str]:
    yield Event(data="a", event="tick", id="t:1")
    yield b"data: b\n\n"
    yield "data: c\n\n"


async def test_headers_and_what_it_writes() -> None:
    closed: list[int] = []
    response = EventStreamResponse(items(), retry_ms=1500, heartbeat=0, on_close=lambda: closed.append(1))
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    chunks = await body(response)
    assert chunks[0] == b"retry: 1500\n\n"
    assert [(e.event, e.data, e.id) for e in parse_events(b"".join(chunks))] == [
        ("tick", "a", "t:1"),
        ("message", "b", "t:1"),
        ("message", "c", "t:1"),
    ]
    response.close()  # Django closes it too: on_close still runs once
    assert closed == [1]


async def test_without_opening_the_source_writes_first() -> None:
    response = EventStreamResponse(items(), heartbeat=0, opening=False)
    assert (await body(response))[0] == b"id: t:1\nevent: tick\ndata: a\n\n"


@override_settings(SSE_HEARTBEAT_SECONDS=0.05)
async def test_an_idle_source_gets_the_heartbeat_of_the_setting() -> None:
    gate = asyncio.Event()

    async def slow() -> AsyncIterator[Event]:
        await gate.wait()
        yield Event(data="late")

    response = EventStreamResponse(slow())  # heartbeat=None: SSE_HEARTBEAT_SECONDS
    stream = aiter(response.streaming_content)
    assert await anext(stream) == b"retry: 2000\n\n"
    assert await anext(stream) == b": ping\n\n"
    assert await anext(stream) == b": ping\n\n"
    gate.set()
    rest = [chunk async for chunk in stream]
    assert b"data: late\n\n" in rest


async def test_heartbeat_zero_sends_none() -> None:
    async def slow() -> AsyncIterator[Event]:
        await asyncio.sleep(0.3)
        yield Event(data="x")

    with override_settings(SSE_HEARTBEAT_SECONDS=0.05):
        chunks = await body(EventStreamResponse(slow(), heartbeat=0))
    assert b": ping" not in b"".join(chunks)


async def test_on_close_runs_once_when_the_client_goes() -> None:
    closed: list[int] = []

    async def forever() -> AsyncIterator[Event]:
        while True:
            await asyncio.sleep(1)
            yield Event(data="x")

    response = EventStreamResponse(forever(), heartbeat=0, on_close=lambda: closed.append(1))
    stream = aiter(response.streaming_content)
    await anext(stream)
    task = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)
    task.cancel()  # what Django does when the client disconnects
    with pytest.raises(asyncio.CancelledError):
        await task
    await stream.aclose()
    response.close()
    assert closed == [1]


@override_settings(SSE_HEARTBEAT_SECONDS=30)
async def test_its_heartbeats_come_from_the_hubs_one_timer() -> None:
    from sse.hub.channel_hub import ChannelHub

    gate = asyncio.Event()

    async def slow() -> AsyncIterator[Event]:
        await gate.wait()
        yield Event(data="late")

    response = EventStreamResponse(slow(), heartbeat=0.1)  # its own interval, not the setting's
    stream = aiter(response.streaming_content)
    assert await anext(stream) == b"retry: 2000\n\n"
    assert await anext(stream) == b": ping\n\n"
    timer = ChannelHub.current().heartbeats
    assert len(timer.members) == 1  # no timer of its own: a member of the hub's
    gate.set()
    assert b"data: late\n\n" in [chunk async for chunk in stream]
    assert timer.members == {}


async def test_consumed_by_async_to_sync_it_leaves_the_process_hub_alone() -> None:
    """WSGI (and the sync test client) read an async body on a loop of async_to_sync's:
    the heartbeats then come from a timer of the stream's own, and the hub stays."""
    from sse.hub.channel_hub import ChannelHub

    hub = ChannelHub.current()

    async def slow() -> AsyncIterator[Event]:
        await asyncio.sleep(0.3)
        yield Event(data="x")

    response = EventStreamResponse(slow(), heartbeat=0.05)
    with pytest.warns(Warning, match="consume asynchronous iterators"):
        content = await asyncio.to_thread(lambda: b"".join(response))
    assert content.startswith(b"retry: 2000\n\n: ping\n\n")
    assert content.endswith(b"data: x\n\n")
    assert ChannelHub.current() is hub and hub.heartbeats.members == {}
