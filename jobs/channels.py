"""Who may read the jobs channels: the job's owner and staff."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import sse
from jobs.access import visible_jobs


@sse.channel("jobs.job.{job_id}")
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


@sse.channel("jobs.user.{pk}")
def can_read_user_jobs(user: Any, pk: str) -> bool:
    return bool(user.is_authenticated and (str(user.pk) == pk or user.is_staff))
