"""One daemon thread per server process that fails jobs whose worker died.

It starts with the first request the process serves (``JobsConfig.ready()``
connects :func:`start_with_requests` to ``request_started``): every server
sweeps, embedded or with separate workers, while ``manage.py`` commands and
``db_worker`` processes, which serve no request, never do.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import connections
from django.utils import timezone

from jobs.conf import conf
from jobs.models import Job, Status
from jobs.outcomes import fail_job, fail_stale_jobs
from jobs.tasks import run_job, wake_worker

__all__ = ["ensure_sweeper", "fail_orphaned_queued_jobs", "start_with_requests", "sweep_once"]

logger = logging.getLogger("jobs")

_lock = threading.Lock()
_thread: threading.Thread | None = None
_process_started = timezone.now()


def ensure_sweeper() -> None:
    """Start the sweeper of this process if it is not running (cheap to call often)."""
    global _thread
    if _thread is not None and _thread.is_alive():
        return
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_sweep_forever, name="jobs-sweeper", daemon=True)
            _thread.start()


def start_with_requests(sender: Any, **kwargs: Any) -> None:
    """A ``request_started`` receiver: a process that serves requests is a server, and sweeps."""
    ensure_sweeper()


def sweep_once() -> int:
    try:
        return fail_stale_jobs()
    finally:
        connections.close_all()


def fail_orphaned_queued_jobs() -> int:
    """Jobs queued before this process started were lost with the old one, if it ran them itself."""
    if not getattr(run_job.get_backend(), "runs_in_server_process", False):
        return 0  # a database queue keeps them for the next worker
    try:
        orphans = Job.objects.filter(status=Status.QUEUED, created__lt=_process_started).values_list(
            "pk", flat=True
        )
        return sum(
            fail_job(pk, "the server restarted before the job ran; start it again", statuses=(Status.QUEUED,))
            for pk in list(orphans)
        )
    finally:
        connections.close_all()


def _sweep_forever() -> None:
    stop = threading.Event()
    try:
        fail_orphaned_queued_jobs()
    except Exception as exc:
        logger.warning("looking for jobs lost in a restart failed: %s", exc)
    while not stop.wait(conf.SWEEP_SECONDS):
        try:
            failed = sweep_once()
        except Exception as exc:  # a busy or restarting database: next round
            logger.warning("looking for stale jobs failed: %s", exc)
            continue
        if failed:
            logger.warning("marked %d job(s) failed: their worker stopped responding", failed)
            # The dead workers' tasks will not queue the next turns: jobs the running cap
            # held back may start now, one turn per worker gone.
            for _ in range(failed):
                if not wake_worker():
                    break
