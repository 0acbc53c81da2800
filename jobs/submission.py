"""Starting a job: check the kind and params, keep to the per-user cap, store it, queue its task."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from django.db import transaction

from jobs.conf import conf
from jobs.errors import SubmissionError
from jobs.events import publish_progress
from jobs.kinds import NOT_UNICODE, JobKind, all_kinds, get_kind, is_valid_unicode
from jobs.models import ACTIVE, Job, Submitter
from jobs.outcomes import fail_job
from jobs.tasks import run_job

__all__ = ["create_job", "enqueue", "validate_submission"]

logger = logging.getLogger("jobs")


def validate_submission(user: Any, kind_name: object, params: object) -> tuple[JobKind, dict[str, Any]]:
    if not is_valid_unicode(params):
        raise SubmissionError({"params": {"non_field_errors": [f"params {NOT_UNICODE}"]}})
    kind = get_kind(kind_name)
    if kind is None:
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
    with transaction.atomic():
        # Write first, count second, insert last, all in one transaction: a second
        # submission of the same user waits at the write until this one commits,
        # and then counts the job this one added.
        Submitter.take_turn(user.pk)
        if limit and Job.objects.filter(owner_id=user.pk, status__in=ACTIVE).count() >= limit:
            raise SubmissionError(
                {"detail": f"you already have {limit} unfinished jobs: wait for one or cancel it"}, status=429
            )
        job = Job.objects.create(owner=user, kind=kind.name, params=params, message="queued")
        publish_progress(job)
        transaction.on_commit(lambda: enqueue(job.id, owner=job.owner_id))
    return job


def enqueue(job_id: UUID, owner: Any = "") -> None:
    try:
        run_job.enqueue(str(job_id), owner=str(owner))
    except Exception as exc:
        logger.exception("could not queue job %s", job_id)
        fail_job(job_id, f"the job could not be queued ({type(exc).__name__})", statuses=ACTIVE)
