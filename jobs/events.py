"""What goes out about a job: its events on its own channel and on its owner's."""

from __future__ import annotations

from typing import Any

import sse
from jobs.models import Job, job_channel, user_channel

__all__ = ["publish_final", "publish_progress"]


def _publish(job: Job, event: str, data: dict[str, Any]) -> None:
    # The job's own channel (its stream, its page) and its owner's (the list page).
    sse.publish(job_channel(job.id), data, event=event)
    sse.publish(user_channel(job.owner_id), data, event=event)


def publish_progress(job: Job) -> None:
    _publish(job, "progress", job.progress_event())


def publish_final(job: Job) -> None:
    event, data = job.final_event()
    _publish(job, event, data)
