"""The one task every job runs through (django.tasks; any backend of the TASKS setting)."""

from __future__ import annotations

from django.tasks import task

from jobs.runner import execute


@task()
def run_job(job_id: str, owner: str = "") -> None:
    # ``owner`` (the job's owner's pk) lets a backend share its workers fairly among users.
    execute(job_id)
