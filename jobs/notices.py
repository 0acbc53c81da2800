"""Telling a job's owner that it ended: a notification through the notifications app.

Only for jobs that took a while (JOBS_NOTIFY_AFTER_SECONDS from submission to end): a
quick job ends while its page is still in front of its owner, and a notification for
each would bury the ones that matter. A cancel is never notified: whoever cancelled
knows. The notification goes out after the job's outcome has committed and can never
undo it: one that cannot be saved or pushed is logged and dropped.
"""

from __future__ import annotations

import logging
from typing import Any

from django.apps import apps
from django.db import transaction

from jobs.conf import conf
from jobs.kinds import get_kind
from jobs.models import Job, Status

__all__ = ["notify_owner_on_commit", "worth_notifying"]

logger = logging.getLogger("jobs")

_BODY_CHARS = 300  # the job's page shows the whole result or error


def worth_notifying(job: Job) -> bool:
    """True for a job that succeeded or failed at least JOBS_NOTIFY_AFTER_SECONDS after it was submitted."""
    after = conf.NOTIFY_AFTER_SECONDS
    if after is None or job.status not in (Status.SUCCEEDED, Status.FAILED) or job.finished is None:
        return False
    return (job.finished - job.created).total_seconds() >= after


def notify_owner_on_commit(job: Job) -> None:
    """Once the job's final state has committed, notify its owner if the job is worth it."""
    if apps.is_installed("notifications") and worth_notifying(job):
        transaction.on_commit(lambda: _notify(job))


def _notify(job: Job) -> None:
    from notifications.models import Level
    from notifications.services import notify

    kind = get_kind(job.kind)
    title = kind.title if kind else job.kind
    try:
        if job.status == Status.SUCCEEDED:
            notify(
                job.owner,
                f"Job {title} finished",
                _summary(job.result),
                level=Level.SUCCESS,
                url=job.get_absolute_url(),
            )
        else:
            notify(
                job.owner,
                f"Job {title} failed",
                _cut(job.error),
                level=Level.ERROR,
                url=job.get_absolute_url(),
            )
    except Exception:
        logger.exception("could not notify the owner of job %s that it ended", job.id)


def _summary(result: Any) -> str:
    # "count: 5,761,455", as the job's page shows it (the download link is the page's).
    if not isinstance(result, dict):
        return "" if result is None else _cut(str(result))
    pairs = [f"{key}: {_number(value)}" for key, value in result.items() if key != "download_url"]
    return _cut("; ".join(pairs))


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _cut(text: str) -> str:
    return text if len(text) <= _BODY_CHARS else text[:_BODY_CHARS] + "…"
