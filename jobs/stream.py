"""GET /jobs/<uuid>/stream/: the job's state first, then its events, until it ends."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from jobs.access import visible_job
from jobs.models import Job, job_channel
from sse.cursor import InvalidCursor, channel_tag, parse_cursor
from sse.hub import encode_body
from sse.response import EventStreamResponse
from sse.storage import get_event_log
from sse.streams import StreamRefused, authenticate_stream, last_event_id, stream_response

__all__ = ["job_stream"]

_ID_LINE = re.compile(rb"^id: ([^\n]*)$", re.MULTILINE)
_FINAL = re.compile(rb"^event: (?:complete|failed|cancelled)$", re.MULTILINE)


def _frame(cursor: str, event: str, data: dict[str, Any]) -> bytes:
    return b"id: " + cursor.encode() + b"\n" + encode_body(event, json.dumps(data))


def _load(user: Any, job_id: UUID) -> Job | None:
    try:
        return visible_job(user, job_id)
    finally:
        # A stream holds no database connection while it waits.
        connections.close_all()


def _state_and_head(job_id: UUID, channel: str) -> tuple[Job, int]:
    try:
        job = Job.objects.get(pk=job_id)
        head = get_event_log().heads([channel])[channel]
        return job, head
    finally:
        connections.close_all()


def _head(channel: str) -> int:
    try:
        return get_event_log().heads([channel])[channel]
    finally:
        connections.close_all()


@require_GET
async def job_stream(request: HttpRequest, job_id: UUID) -> HttpResponse:
    channel = job_channel(job_id)
    tag = channel_tag((channel,))
    try:
        user = await authenticate_stream(request, [channel])
        job = await sync_to_async(_load)(user, job_id)
        if job is None:
            raise StreamRefused(404, f"no job {job_id}")
        resume_from = last_event_id(request)
    except StreamRefused as refused:
        return refused.response()

    if job.is_finished:
        # 204 stops a browser for good; a client that missed the end still gets it once.
        seen = _resume_seq(resume_from, tag)
        head = await sync_to_async(_head)(channel)
        if seen is None or seen >= head:
            return HttpResponse(status=204)
        event, data = job.final_event()
        return EventStreamResponse(_once(_frame(f"{tag}:{head}", event, data)), heartbeat=None)

    response = await stream_response([channel], user_key=str(user.pk), resume_from=resume_from)
    # The getter binds the hub stream now, before the wrapper replaces it.
    response.streaming_content = _until_final(response.streaming_content, job_id, channel)
    return response


def _resume_seq(resume_from: str | None, tag: str) -> int | None:
    if resume_from is None:
        return None
    try:
        return parse_cursor(resume_from, tag, 1)[0]
    except InvalidCursor:
        return None


async def _once(frame: bytes) -> AsyncIterator[bytes]:
    yield frame


async def _until_final(inner: AsyncIterator[bytes], job_id: UUID, channel: str) -> AsyncIterator[bytes]:
    # The job's stream is the hub stream, ended after the job's final event.
    tag = channel_tag((channel,))
    stale_up_to: int | None = None  # progress at or below this seq is older than the state sent
    try:
        opening = await anext(inner)
        yield opening
        if _ID_LINE.search(opening) is not None:
            # Subscribed first, read second: nothing falls between the state and the live events.
            frames, stale_up_to = await _state_frames(job_id, channel, tag)
            for frame in frames:
                yield frame
                if _FINAL.search(frame):
                    return
        async for chunk in inner:
            if stale_up_to is not None:
                chunk, stale_up_to = _drop_stale_progress(chunk, tag, stale_up_to)
                if not chunk:
                    continue
            yield chunk
            if _FINAL.search(chunk):
                return
            if b"event: reset" in chunk:
                # The client reloads its state after a reset: this is that state.
                frames, stale_up_to = await _state_frames(job_id, channel, tag)
                for frame in frames:
                    yield frame
                    if _FINAL.search(frame):
                        return
    finally:
        await inner.aclose()  # type: ignore[attr-defined]


def _drop_stale_progress(chunk: bytes, tag: str, stale_up_to: int) -> tuple[bytes, int | None]:
    """Drop the progress frames already covered by the state sent; None once past it.

    Events published between the subscription and the state read arrive after the
    state and would move a progress bar back. Final events are never dropped.
    """
    kept: list[bytes] = []
    for frame in chunk.split(b"\n\n"):
        if not frame:
            continue
        found = _ID_LINE.search(frame)
        seq = _resume_seq(found.group(1).decode(), tag) if found is not None else None
        if seq is not None and seq > stale_up_to:
            stale_up_to = -1
        if seq is None or stale_up_to < 0 or b"event: progress" not in frame:
            kept.append(frame + b"\n\n")
    return b"".join(kept), (None if stale_up_to < 0 else stale_up_to)


async def _state_frames(job_id: UUID, channel: str, tag: str) -> tuple[list[bytes], int]:
    # The job is read before the log's head: every event after that head is newer than it.
    job, head = await sync_to_async(_state_and_head)(job_id, channel)
    cursor = f"{tag}:{head}"
    frames = [_frame(cursor, "progress", job.progress_event())]
    if job.is_finished:
        # It ended between our status check and the subscription: its final event is older.
        event, data = job.final_event()
        frames.append(_frame(cursor, event, data))
    return frames, head
