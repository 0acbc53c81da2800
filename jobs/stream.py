"""GET /jobs/<uuid>/stream/: the job's state first, then its events, until it ends."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from jobs.access import visible_job
from jobs.models import Job, job_channel
from sse import Event, EventStreamResponse, FirstEvents, stream_response
from sse.storage import current_log_id, get_event_log
from sse.streams.access import (
    UNAVAILABLE_ERRORS,
    StreamRefused,
    StreamUnavailable,
    authenticate_stream,
    last_event_id,
    requested_rate,
)
from sse.wire.cursor import InvalidCursor, LogPosition, channel_tag, format_cursor, parse_cursor

__all__ = ["job_stream"]

FINAL_EVENTS = ("complete", "failed", "cancelled")


def _load(user: Any, job_id: UUID) -> Job | None:
    try:
        return visible_job(user, job_id)
    finally:
        # A stream holds no database connection while it waits.
        connections.close_all()


def _state_and_head(job_id: UUID, channel: str) -> tuple[Job, LogPosition]:
    # The job is read before the log's head: every event after that head is newer than it.
    # The head with its event's check, which the stream's ids carry.
    try:
        job = Job.objects.get(pk=job_id)
        head = get_event_log().positions([channel])[channel]
        return job, head
    finally:
        connections.close_all()


def _head(channel: str) -> LogPosition:
    try:
        return get_event_log().positions([channel])[channel]
    finally:
        connections.close_all()


def state_events(job: Job) -> list[Event]:
    """The job as events: its progress and, once it ended, its final event."""
    events = [Event(data=json.dumps(job.progress_event()), event="progress")]
    if job.is_finished:
        event, data = job.final_event()
        events.append(Event(data=json.dumps(data), event=event))
    return events


@require_GET
async def job_stream(request: HttpRequest, job_id: UUID) -> HttpResponse:
    channel = job_channel(job_id)
    tag = channel_tag((channel,), current_log_id())
    try:
        user = await authenticate_stream(request, [channel])
        try:
            job = await sync_to_async(_load)(user, job_id)
            head = (
                await sync_to_async(_head)(channel) if job is not None and job.is_finished else LogPosition(0)
            )
        except UNAVAILABLE_ERRORS as exc:
            # The database is down for a moment: come back (a 5xx would stop the browser).
            raise StreamUnavailable() from exc
        if job is None:
            raise StreamRefused(404, f"no job {job_id}")
        resume_from = last_event_id(request)
        max_rate = requested_rate(request)
    except StreamRefused as refused:
        return refused.response()

    if job.is_finished:
        # 204 stops a browser for good; a client that missed the end still gets it once.
        seen = _resume_seq(resume_from, tag)
        if seen is None or seen >= head.seq:
            return HttpResponse(status=204)
        final = state_events(job)[-1]
        event_id = format_cursor(tag, [head.seq], [head.check])
        return EventStreamResponse(_once(Event(data=final.data, event=final.event, id=event_id)))

    async def first() -> FirstEvents:
        # Subscribed first, read second: nothing falls between the state and the live events.
        state, head = await sync_to_async(_state_and_head)(job_id, channel)
        return FirstEvents(positions=[head], events=state_events(state))

    return await stream_response(
        [channel],
        user_key=str(user.pk),
        resume_from=resume_from,
        first=first,
        end_after=FINAL_EVENTS,
        max_rate=max_rate,
        # The channel's rule (jobs.channels: the owner and staff) is re-run while the stream
        # is open: a staff member demoted while watching someone's job loses the stream.
        check_rules=True,
    )


def _resume_seq(resume_from: str | None, tag: str) -> int | None:
    if resume_from is None:
        return None
    try:
        position = parse_cursor(resume_from, tag, 1)[0]
    except InvalidCursor:
        return None
    return None if position is None else position.seq


async def _once(event: Event) -> AsyncIterator[Event]:
    yield event
