"""Which jobs a user may see: their own, or every one for staff; a stale one is failed as it is read."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet

from jobs.models import Job, Status
from jobs.outcomes import fail_if_stale

__all__ = ["visible_job", "visible_jobs"]


def visible_jobs(user: Any) -> QuerySet[Job]:
    if not user.is_authenticated:
        return Job.objects.none()
    if user.is_staff:
        return Job.objects.all()
    return Job.objects.filter(owner_id=user.pk)


def visible_job(user: Any, job_id: object) -> Job | None:
    """The job if ``user`` may see it; None for a missing job and for someone else's alike."""
    try:
        pk = job_id if isinstance(job_id, UUID) else UUID(str(job_id))
    except ValueError:
        return None
    job = visible_jobs(user).select_related("owner").filter(pk=pk).first()
    if job is not None and job.status == Status.RUNNING:
        fail_if_stale(job)
    return job
