"""The one task every job runs through (django.tasks; any backend of the TASKS setting).

A task is a worker's turn, not a job: it runs the queued job whose turn it is
(:func:`jobs.runner.execute`), and once that job has ended it queues one more turn if
another job may start now, since a job that was held back (its owner ran as many jobs as
they may) waits for exactly that moment.
"""

from __future__ import annotations

import logging

from django.db import connections
from django.tasks import task

from jobs.runner import execute, queued_in_turn

__all__ = ["run_job", "wake_worker"]

logger = logging.getLogger("jobs")


@task()
def run_job(job_id: str, owner: str = "") -> None:
    # ``job_id``: the submission that queued this turn; ``owner`` (its owner's pk) lets a
    # backend share its workers among users. The job run is the one whose turn it is.
    if execute(job_id):
        wake_worker()


def wake_worker() -> bool:
    """Queue a turn for the first queued job allowed to start now, if there is one.

    Called when a job ends and when the sweeper fails a job whose worker died: the moments
    a job held back by the running cap may start. True if a turn was queued.
    """
    try:
        try:
            waiting = queued_in_turn(limit=1)
        finally:
            connections.close_all()
        if not waiting:
            return False
        job_id, owner = waiting[0]
        run_job.enqueue(str(job_id), owner=str(owner))
        return True
    except Exception:
        logger.exception("could not queue the next job's turn")
        return False
