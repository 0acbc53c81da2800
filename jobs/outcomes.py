"""Ending a job other than by success: cancel, fail, fail when its worker went quiet.

Each change is conditional on the job's status (and heartbeat), so two processes
ending the same job end it once, and each publishes the job's final event.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from jobs.conf import conf
from jobs.events import publish_final
from jobs.models import ACTIVE, Job, Status
from jobs.notices import notify_owner_on_commit

__all__ = [
    "MAX_ERROR_CHARS",
    "cancel_job",
    "fail_if_stale",
    "fail_job",
    "fail_running_job",
    "fail_stale_jobs",
    "shorten_error",
]

logger = logging.getLogger("jobs")

# The longest error a job keeps and publishes. Its final event must fit in one
# published event (SSE_MAX_EVENT_BYTES, 256 KiB by default): 2,000 characters take
# at most 12 KB of JSON, whatever they are.
MAX_ERROR_CHARS = 2000
# If the site allows even less, the error is cut to this on a second try.
_FALLBACK_ERROR_CHARS = 200


def cancel_job(job: Job) -> bool:
    """Cancel a queued or running job; its stream hears at once, its code at its next report."""
    now = timezone.now()
    with transaction.atomic():
        changed = Job.objects.filter(pk=job.pk, status__in=ACTIVE).update(
            status=Status.CANCELLED, finished=now, message="cancelled"
        )
        job.refresh_from_db()
        if changed:
            publish_final(job)
    return bool(changed)


def shorten_error(error: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``error`` if it has at most ``limit`` characters, else its start and how long it was."""
    if len(error) <= limit:
        return error
    return f"{error[:limit]}... (cut: the error had {len(error):,} characters)"


def fail_job(
    job_id: UUID, error: str, *, statuses: tuple[str, ...] = (Status.RUNNING,), **filters: Any
) -> bool:
    """Fail the job if its status is one of ``statuses``; it always ends with (the start of) ``error``."""
    try:
        return _fail(job_id, shorten_error(error), statuses, filters)
    except ValueError:
        # publish() refused the final event (a site with a small SSE_MAX_EVENT_BYTES):
        # the transaction rolled back, so the job is still active. Try once with less.
        logger.warning("the error of job %s was too large to publish; cutting it shorter", job_id)
        return _fail(job_id, shorten_error(error, _FALLBACK_ERROR_CHARS), statuses, filters)


def _fail(job_id: UUID, error: str, statuses: tuple[str, ...], filters: dict[str, Any]) -> bool:
    with transaction.atomic():
        changed = Job.objects.filter(pk=job_id, status__in=statuses, **filters).update(
            status=Status.FAILED, error=error, finished=timezone.now()
        )
        if changed:
            job = Job.objects.get(pk=job_id)
            publish_final(job)
            notify_owner_on_commit(job)
    return bool(changed)


def fail_running_job(job_id: UUID, error: str) -> bool:
    return fail_job(job_id, error)


def _stale_error() -> str:
    return (
        f"the worker running this job stopped responding (no sign of life for "
        f"{conf.STALE_SECONDS:g} s, JOBS_STALE_SECONDS)"
    )


def fail_if_stale(job: Job) -> bool:
    cutoff = timezone.now() - timedelta(seconds=conf.STALE_SECONDS)
    if job.heartbeat is None or job.heartbeat >= cutoff:
        return False
    if fail_job(job.pk, _stale_error(), heartbeat__lt=cutoff):
        job.refresh_from_db()
        return True
    return False


def fail_stale_jobs() -> int:
    """Fail every running job whose worker went quiet for longer than JOBS_STALE_SECONDS."""
    cutoff = timezone.now() - timedelta(seconds=conf.STALE_SECONDS)
    stale = list(Job.objects.filter(status=Status.RUNNING, heartbeat__lt=cutoff).values_list("pk", flat=True))
    # Conditional on the heartbeat again: a worker that just spoke up keeps its job.
    return sum(fail_job(pk, _stale_error(), heartbeat__lt=cutoff) for pk in stale)
