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
from django.db import connections, transaction
from django.urls import reverse
from django.utils import timezone

from jobs.conf import conf
from jobs.errors import JobError, JobInterrupted, JobStopped
from jobs.events import publish_final, publish_progress
from jobs.kinds import get_kind
from jobs.models import Job, JobFile, Status
from jobs.notices import notify_owner_on_commit
from jobs.outcomes import fail_running_job
from jobs.progress import JobContext

__all__ = ["execute"]

logger = logging.getLogger("jobs")

_WORKER = f"{socket.gethostname()}:{os.getpid()}"


def execute(job_id: str) -> None:
    """Run the job ``job_id`` if it is still queued; every outcome ends up on its stream."""
    try:
        job = _claim(UUID(str(job_id)))
        if job is None:
            return
        _run(job)
    finally:
        # Pool threads keep their connections otherwise.
        connections.close_all()


def _claim(job_id: UUID) -> Job | None:
    # Atomic queued -> running: a job cancelled before it started, or run twice, is skipped.
    now = timezone.now()
    with transaction.atomic():
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
