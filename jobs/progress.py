"""JobContext: what a running job's code sees; ``report()`` is its progress API."""

from __future__ import annotations

import threading
import time
from typing import Any

from django.db import transaction
from django.utils import timezone

from jobs.conf import conf
from jobs.errors import JobError, JobInterrupted, JobStopped
from jobs.events import publish_progress
from jobs.models import Job, Status

__all__ = ["JobContext", "shutting_down"]

# Set when the process that runs embedded jobs is exiting.
shutting_down = threading.Event()


_MAX_MESSAGE = 200


class JobContext:
    """Handed to a kind's ``run(job, params)``.

    ``report(done, total, message)`` records progress; it publishes at most once
    per JOBS_PROGRESS_INTERVAL and raises :class:`JobStopped` once the job was
    cancelled, so a job stops at its next report.
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self.id = job.id
        self.owner = job.owner
        self.done = job.done
        self.total = job.total
        self.message = job.message
        self.file: tuple[str, str, bytes] | None = None
        self.stop_requested = threading.Event()  # set by the heartbeat when the row says so
        self._dirty = False
        self._last_flush = float("-inf")

    def check(self) -> None:
        """Raise if the job should stop now (cheap; no database work)."""
        if self.stop_requested.is_set():
            raise JobStopped()
        if shutting_down.is_set():
            raise JobInterrupted()

    def report(self, done: int, total: int | None = None, message: str | None = None) -> None:
        self.check()
        if isinstance(done, bool) or not isinstance(done, int) or done < 0:
            raise ValueError("done must be a non-negative integer")
        if total is not None:
            if isinstance(total, bool) or not isinstance(total, int) or total < 0:
                raise ValueError("total must be a non-negative integer")
            self.total = total
        self.done = done
        if message is not None:
            self.message = str(message)[:_MAX_MESSAGE]
        self._dirty = True
        if time.monotonic() - self._last_flush >= conf.PROGRESS_INTERVAL:
            self.flush()

    def flush(self) -> None:
        """Store and publish the current progress now (the runner calls it last)."""
        with transaction.atomic():
            changed = Job.objects.filter(pk=self.id, status=Status.RUNNING).update(
                done=self.done, total=self.total, message=self.message, heartbeat=timezone.now()
            )
            if not changed:
                self.stop_requested.set()
                raise JobStopped()
            job = self.job
            job.done, job.total, job.message, job.status = self.done, self.total, self.message, Status.RUNNING
            publish_progress(job)
        self._dirty = False
        self._last_flush = time.monotonic()

    @property
    def dirty(self) -> bool:
        return self._dirty

    def attach_file(self, name: str, content: bytes, content_type: str = "application/octet-stream") -> None:
        """Offer ``content`` for download as the job's result file (stored on success)."""
        if len(content) > conf.MAX_FILE_BYTES:
            raise JobError(f"the file would be larger than the {conf.MAX_FILE_BYTES} bytes allowed")
        self.file = (name, content_type, content)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<JobContext {self.job.kind} {self.id} {self.done}/{self.total}>"

    def __getstate__(self) -> Any:  # pragma: no cover - never pickled
        raise TypeError("a JobContext lives in the process that runs the job")
