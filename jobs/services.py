"""What the views, the admin and the runner do to jobs: create, publish, cancel, fail."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

import sse
from jobs.conf import conf
from jobs.kinds import JobKind, get_kind
from jobs.models import ACTIVE, Job, Status, job_channel, user_channel

__all__ = [
    "SubmissionError",
    "cancel_job",
    "create_job",
    "fail_running_job",
    "fail_stale_jobs",
    "publish_final",
    "publish_progress",
    "validate_submission",
    "visible_job",
    "visible_jobs",
]

logger = logging.getLogger("jobs")


class SubmissionError(Exception):
    """Bad kind or params: ``errors`` maps field names to messages (the 400 body)."""

    def __init__(self, errors: dict[str, Any], status: int = 400) -> None:
        super().__init__(str(errors))
        self.errors = errors
        self.status = status


# -- publishing ------------------------------------------------------------


def _publish(job: Job, event: str, data: dict[str, Any]) -> None:
    # The job's own channel (its stream, its page) and its owner's (the list page).
    sse.publish(job_channel(job.id), data, event=event)
    sse.publish(user_channel(job.owner_id), data, event=event)


def publish_progress(job: Job) -> None:
    _publish(job, "progress", job.progress_event())


def publish_final(job: Job) -> None:
    event, data = job.final_event()
    _publish(job, event, data)


# -- reading ---------------------------------------------------------------


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


# -- creating --------------------------------------------------------------


def validate_submission(user: Any, kind_name: object, params: object) -> tuple[JobKind, dict[str, Any]]:
    kind = get_kind(kind_name)
    if kind is None:
        from jobs.kinds import all_kinds

        names = ", ".join(k.name for k in all_kinds())
        raise SubmissionError({"kind": [f"unknown job kind {kind_name!r}; choose one of: {names}"]})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise SubmissionError({"params": {"non_field_errors": ["params must be a JSON object"]}})
    unknown = sorted(set(params) - set(kind.form(user=user).fields))
    if unknown:
        raise SubmissionError({"params": {name: ["unknown parameter"] for name in unknown}})
    form = kind.form(params, user=user)
    if not form.is_valid():
        raise SubmissionError({"params": {name: list(errors) for name, errors in form.errors.items()}})
    return kind, dict(form.cleaned_data)


def create_job(user: Any, kind: JobKind, params: dict[str, Any]) -> Job:
    limit = conf.MAX_ACTIVE_PER_USER
    if limit and Job.objects.filter(owner_id=user.pk, status__in=ACTIVE).count() >= limit:
        raise SubmissionError(
            {"detail": f"you already have {limit} unfinished jobs: wait for one or cancel it"}, status=429
        )
    with transaction.atomic():
        job = Job.objects.create(owner=user, kind=kind.name, params=params, message="queued")
        publish_progress(job)
        transaction.on_commit(lambda: enqueue(job.id))
    return job


def enqueue(job_id: UUID) -> None:
    from jobs.tasks import run_job

    try:
        run_job.enqueue(str(job_id))
    except Exception as exc:
        logger.exception("could not queue job %s", job_id)
        fail_job(job_id, f"the job could not be queued ({type(exc).__name__})", statuses=ACTIVE)


# -- ending ----------------------------------------------------------------


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


def fail_job(
    job_id: UUID, error: str, *, statuses: tuple[str, ...] = (Status.RUNNING,), **filters: Any
) -> bool:
    with transaction.atomic():
        changed = Job.objects.filter(pk=job_id, status__in=statuses, **filters).update(
            status=Status.FAILED, error=error, finished=timezone.now()
        )
        if changed:
            publish_final(Job.objects.get(pk=job_id))
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
