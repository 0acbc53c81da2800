"""Who may read the jobs channels: the job's owner and staff."""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Any
from uuid import UUID

import sse
from jobs.access import visible_jobs
from jobs.conf import conf


def latest_per_job_and_event(event: str | None, data: str) -> Hashable:
    """Throttled job events replace only their like: a job's newer ``progress`` replaces its
    older one, while its final event (and another job's progress) is kept."""
    try:
        job_id = json.loads(data).get("id")
    except (ValueError, AttributeError):
        job_id = None
    return (event, job_id if isinstance(job_id, str) else None)


# Streams get at most JOBS_STREAM_MAX_RATE progress events a second, the latest of each job.
THROTTLE: dict[str, Any] = {"max_rate": conf.STREAM_MAX_RATE, "conflate_by": latest_per_job_and_event}


@sse.channel("jobs.job.{job_id}", **THROTTLE)
async def can_read_job(user: Any, job_id: str) -> bool:
    # Someone else's job answers like a missing one (404): ids are not probed.
    if not user.is_authenticated:
        return False
    try:
        pk = UUID(job_id)
    except ValueError:
        raise sse.ChannelNotFound(f"no job {job_id}") from None
    if not await visible_jobs(user).filter(pk=pk).aexists():
        raise sse.ChannelNotFound(f"no job {job_id}")
    return True


@sse.channel("jobs.user.{pk}", **THROTTLE)
def can_read_user_jobs(user: Any, pk: str) -> bool:
    return bool(user.is_authenticated and (str(user.pk) == pk or user.is_staff))
