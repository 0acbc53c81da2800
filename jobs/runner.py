"""Run one job: claim it, keep its heartbeat, run its kind, record the outcome."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from typing import Any
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, connections, transaction
from django.db.models import Count, F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from jobs.conf import conf
from jobs.errors import JobError, JobInterrupted, JobStopped
from jobs.events import publish_final, publish_progress
from jobs.kinds import get_kind
from jobs.models import Job, JobFile, Status, Submitter
from jobs.notices import notify_owner_on_commit
from jobs.outcomes import fail_running_job
from jobs.progress import JobContext, shutting_down

__all__ = ["claim_next", "execute", "queued_in_turn"]

logger = logging.getLogger("jobs")

_WORKER = f"{socket.gethostname()}:{os.getpid()}"


def execute(job_id: str) -> bool:
    """One turn of a worker: claim the queued job whose turn it is and run it. True if one ran.

    The task a submission queues names its job, but a free worker takes the fairest queued
    job (:func:`queued_in_turn`), whichever submission's task woke it: a task is a turn of
    a worker, not a job, so one user's backlog in the backend's queue never holds another
    user's job behind it. A task that finds no job allowed to start ends at once (its own job
    may have been taken already, or its owner runs as many as they may); after a job ends,
    the task queues one more turn if a job may start (:mod:`jobs.tasks`).
    """
    try:
        job = claim_next()
        if job is None:
            logger.debug("job task for %s: no queued job may start now", job_id)
            return False
        _run(job)
        return True
    finally:
        # Pool threads keep their connections otherwise.
        connections.close_all()


def queued_in_turn(limit: int = 20) -> list[tuple[UUID, Any]]:
    """(job id, owner pk) of queued jobs allowed to start, in the order workers take them.

    The owner with the fewest running jobs first; among owners as busy, the one whose last
    job started longest ago (or never): users take turns. Each owner's oldest job first.
    Owners already running ``JOBS_MAX_RUNNING_PER_USER`` jobs are left out, so one user's long
    jobs never hold every worker. One query, whatever the backend or the job's kind.
    """
    running = (
        Job.objects.filter(owner_id=OuterRef("owner_id"), status=Status.RUNNING)
        .order_by()
        .values("owner_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    last_start = (
        Job.objects.filter(owner_id=OuterRef("owner_id"), started__isnull=False)
        .order_by("-started")
        .values("started")[:1]
    )
    queued = Job.objects.filter(status=Status.QUEUED).annotate(
        busy=Coalesce(Subquery(running), Value(0)), turn=Subquery(last_start)
    )
    cap = conf.MAX_RUNNING_PER_USER
    if cap:
        queued = queued.filter(busy__lt=cap)
    ordered = queued.order_by("busy", F("turn").asc(nulls_first=True), "created", "pk")
    return list(ordered.values_list("pk", "owner_id")[:limit])


def claim_next() -> Job | None:
    """Claim the first job of :func:`queued_in_turn` that is still free to start, or None."""
    if shutting_down.is_set():
        return None
    for job_id, owner_pk in queued_in_turn():
        job = _claim(job_id, owner_pk)
        if job is not None:
            return job
    return None


def _claim(job_id: UUID, owner_pk: Any) -> Job | None:
    # Atomic queued -> running: a job cancelled before it started, or taken by another
    # worker, is skipped; so is one whose owner reached the running cap meanwhile.
    now = timezone.now()
    cap = conf.MAX_RUNNING_PER_USER
    with transaction.atomic():
        # The job's row first: on PostgreSQL a job another worker is claiming is skipped,
        # not waited for (SQLite runs one write transaction at a time: IMMEDIATE mode).
        rows = Job.objects.filter(pk=job_id, status=Status.QUEUED)
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True)
        if not list(rows.values_list("pk", flat=True)):
            return None
        # Then the owner's turn: two workers never both count the owner's running jobs
        # before either claims, so the cap holds however many workers race.
        Submitter.take_turn(owner_pk)
        if cap and Job.objects.filter(owner_id=owner_pk, status=Status.RUNNING).count() >= cap:
            return None
        claimed = Job.objects.filter(pk=job_id, status=Status.QUEUED).update(
            status=Status.RUNNING, started=now, heartbeat=now, worker=_WORKER[:100], message="started"
        )
        if not claimed:
            return None
        job = Job.objects.select_related("owner").get(pk=job_id)
        publish_progress(job)
    return job


def _run(job: Job) -> None:
    ctx = JobContext(job)
    beat = _Heartbeat(ctx)
    beat.start()
    try:
        kind = get_kind(job.kind)
        if kind is None:
            raise JobError(f"unknown job kind {job.kind!r}")
        result = kind.run(ctx, dict(job.params))
        ctx.check()
        _succeed(ctx, result)
    except JobStopped:
        logger.info("job %s stopped: it was cancelled or failed elsewhere", job.id)
    except JobError as exc:
        _flush_last_report(ctx)
        fail_running_job(job.id, str(exc) or "the job failed")
    except JobInterrupted:
        fail_running_job(job.id, "the server stopped while the job was running; start it again")
    except (KeyboardInterrupt, SystemExit):
        fail_running_job(job.id, "the worker was stopped while the job was running; start it again")
        raise
    except Exception as exc:
        logger.exception("job %s (%s) crashed", job.id, job.kind)
        _flush_last_report(ctx)
        fail_running_job(job.id, f"unexpected error ({type(exc).__name__}); the server log has the details")
    finally:
        beat.stop()
        Job.objects.filter(pk=job.id).update(exited=timezone.now())


def _flush_last_report(ctx: JobContext) -> None:
    # The throttle may have held back the last report: show how far the job got.
    if ctx.dirty:
        try:
            ctx.flush()
        except JobStopped:
            pass


def _succeed(ctx: JobContext, result: Any) -> None:
    try:
        result = json.loads(json.dumps(result, cls=DjangoJSONEncoder))
    except (TypeError, ValueError) as exc:
        raise JobError(f"the job's result is not JSON: {exc}") from None
    if ctx.file is not None:
        result = dict(result or {}) if isinstance(result, dict) or result is None else {"value": result}
        name, _content_type, content = ctx.file
        result["file"] = name
        result["bytes"] = len(content)
        result["download_url"] = reverse("jobs:download", args=[ctx.id])
    now = timezone.now()
    with transaction.atomic():
        changed = Job.objects.filter(pk=ctx.id, status=Status.RUNNING).update(
            status=Status.SUCCEEDED,
            done=ctx.done,
            total=ctx.total,
            message=ctx.message,
            result=result,
            finished=now,
            heartbeat=now,
        )
        if not changed:
            raise JobStopped()
        if ctx.file is not None:
            name, content_type, content = ctx.file
            JobFile.objects.create(
                job_id=ctx.id, name=name, content_type=content_type, content=content, size=len(content)
            )
        job = Job.objects.get(pk=ctx.id)
        # The final state always goes out, however the throttle stood: 100 %, then the result.
        publish_progress(job)
        publish_final(job)
        notify_owner_on_commit(job)


class _Heartbeat(threading.Thread):
    """Tells the database the job's worker is alive; notices a cancel between reports."""

    def __init__(self, ctx: JobContext) -> None:
        super().__init__(name=f"job-heartbeat-{ctx.id}", daemon=True)
        self.ctx = ctx
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.wait(conf.HEARTBEAT_SECONDS):
                try:
                    alive = Job.objects.filter(pk=self.ctx.id, status=Status.RUNNING).update(
                        heartbeat=timezone.now()
                    )
                except Exception as exc:  # a busy database: try again next beat
                    logger.warning("heartbeat of job %s failed: %s", self.ctx.id, exc)
                    connections.close_all()
                    continue
                if not alive:
                    self.ctx.stop_requested.set()
                    return
        finally:
            connections.close_all()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)
