"""The job stream's hand-over from the state it read to the live events."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest

from jobs import stream
from jobs.models import Job, Status, job_channel
from sse.cursor import channel_tag
from sse.hub import encode_body
from sse.testing import parse_events

JOB_ID = uuid.uuid4()
CHANNEL = job_channel(JOB_ID)
TAG = channel_tag((CHANNEL,))


def frame(seq: int, event: str, **data: object) -> bytes:
    return f"id: {TAG}:{seq}\n".encode() + encode_body(event, json.dumps(data))


async def hub_stream(*chunks: bytes) -> AsyncIterator[bytes]:
    yield b"retry: 2000\nid: " + f"{TAG}:2".encode() + b"\n\n"
    for chunk in chunks:
        yield chunk


def run(chunks: tuple[bytes, ...], job: Job, head: int) -> list[dict[str, object]]:
    async def collect() -> list[bytes]:
        return [c async for c in stream._until_final(hub_stream(*chunks), JOB_ID, CHANNEL)]

    out = b"".join(asyncio.run(collect()))
    return [{"id": e.id, "event": e.event, "data": e.json()} for e in parse_events(out)]


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch):
    def use(job: Job, head: int) -> None:
        monkeypatch.setattr(stream, "_state_and_head", lambda job_id, channel: (job, head))

    return use


def test_progress_published_before_the_state_read_is_not_sent_after_it(state) -> None:
    job = Job(id=JOB_ID, status=Status.RUNNING, done=38, total=100)
    state(job, 4)
    chunks = (
        frame(3, "progress", done=31) + frame(4, "progress", done=38),  # older than the state
        frame(5, "progress", done=45),
        frame(6, "complete", id=str(JOB_ID), status="succeeded", result=1),
        frame(7, "progress", done=99),  # after the end: never sent
    )
    events = run(chunks, job, 4)
    assert [e["event"] for e in events] == ["progress", "progress", "complete"]
    assert [e["data"].get("done") for e in events[:2]] == [38, 45]
    assert events[0]["id"] == f"{TAG}:4", "the state's id resumes after everything it covers"


def test_a_final_event_older_than_the_state_read_still_ends_the_stream(state) -> None:
    job = Job(id=JOB_ID, status=Status.RUNNING, done=90, total=100)
    state(job, 6)
    chunks = (frame(5, "progress", done=80) + frame(6, "failed", id=str(JOB_ID), status="failed", error="x"),)
    events = run(chunks, job, 6)
    assert [e["event"] for e in events] == ["progress", "failed"]


def test_a_finished_job_sends_its_state_then_its_final_event(state) -> None:
    job = Job(id=JOB_ID, status=Status.CANCELLED, done=10, total=100)
    state(job, 3)
    events = run((frame(9, "progress", done=99),), job, 3)
    assert [e["event"] for e in events] == ["progress", "cancelled"]
