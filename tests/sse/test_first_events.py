"""stream_response(first=..., end_after=...): a state first, then live events, until the end."""

from __future__ import annotations

import pytest
from django.test import AsyncClient

import sse
import sse.testing

streaming = pytest.mark.django_db(transaction=True)


@streaming
async def test_events_published_before_the_state_read_are_not_sent_after_it(
    async_client: AsyncClient,
) -> None:
    path = "/state-first/?channel=scratch.fe.race&before=progress,progress"
    async with sse.testing.connect(async_client, path) as stream:
        state = await stream.next_event()
        assert (state.event, state.json()) == ("state", {"head": 2})
        assert state.id.split(":")[1].startswith("2_"), "the state's id resumes after everything it covers"
        await sse.apublish("scratch.fe.race", {"n": 3}, event="progress")
        await sse.apublish("scratch.fe.race", {"n": 4}, event="complete")
        await sse.apublish("scratch.fe.race", {"n": 5}, event="progress")
        events = await stream.events(2)
        assert [(e.event, e.json()) for e in events] == [("progress", {"n": 3}), ("complete", {"n": 4})]
        await stream.wait_ended()  # after complete, nothing: n=5 never goes out


@streaming
async def test_the_state_id_resumes_exactly(async_client: AsyncClient) -> None:
    # The state's id carries the check of the head event it covers: the log vouches for it.
    path = "/state-first/?channel=scratch.fe.again&before=progress"
    async with sse.testing.connect(async_client, path) as stream:
        state = await stream.next_event()
    await sse.apublish("scratch.fe.again", {"n": 2}, event="progress")
    async with sse.testing.connect(async_client, path, last_event_id=state.id) as stream:
        event = await stream.next_event()
    assert (event.event, event.json()) == ("progress", {"n": 2})


@streaming
async def test_an_end_the_state_covers_still_ends_the_stream(async_client: AsyncClient) -> None:
    # The end was published between the subscription and the state read: the state (read
    # just before it) does not show it, so it goes out after the state, and ends the stream.
    path = "/state-first/?channel=scratch.fe.end&before=progress,complete"
    async with sse.testing.connect(async_client, path) as stream:
        events = await stream.events(2)
        assert [e.event for e in events] == ["state", "complete"]
        await stream.wait_ended()


@streaming
async def test_a_resumed_stream_replays_instead_of_sending_a_state(async_client: AsyncClient) -> None:
    path = "/state-first/?channel=scratch.fe.resume"
    async with sse.testing.connect(async_client, path) as stream:
        assert (await stream.next_event()).event == "state"
        seen = stream.last_event_id
    await sse.apublish("scratch.fe.resume", {"n": 1}, event="progress")
    await sse.apublish("scratch.fe.resume", {"n": 2}, event="complete")
    async with sse.testing.connect(async_client, path, last_event_id=seen) as stream:
        events = await stream.events(2)
        assert [(e.event, e.json()) for e in events] == [("progress", {"n": 1}), ("complete", {"n": 2})]
        await stream.wait_ended()
