"""A job that took a while tells its owner when it ends: a notification on their stream."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from jobs.models import Job, Status
from jobs.notices import notify_owner_on_commit
from jobs.outcomes import fail_job
from notifications.models import Notification
from tests.jobs.conftest import start_job
from tests.notifications.helpers import open_events
from tests.servers import DaphneServer


def test_a_slow_job_that_finishes_notifies_its_owner_on_their_stream(
    jobs_site: DaphneServer, users: Callable[[str], httpx.Client]
) -> None:
    bob = users("bob")
    with open_events(bob, "/notifications/stream/") as events:
        # Six steps of a second: it ends at least six seconds after it was submitted, past the
        # five seconds (JOBS_NOTIFY_AFTER_SECONDS) below which a job ends without a notification.
        job = start_job(bob, "steps", steps=6, seconds_per_step=1)
        event, _ = events.until(
            lambda e: e["event"] == "notification" and e["data"]["url"] == f"/jobs/{job['id']}/", timeout=120
        )
    assert event["data"]["title"] == "Job Slow steps finished"
    assert event["data"]["level"] == "success"
    assert event["data"]["body"] == "steps: 6"
    assert bob.get(f"/api/jobs/{job['id']}/").json()["status"] == "succeeded"
    listed = bob.get("/api/notifications/").json()["results"]
    assert [n["title"] for n in listed if n["url"] == f"/jobs/{job['id']}/"] == ["Job Slow steps finished"]


def _job(owner: object, status: str, took: float, **fields: object) -> Job:
    finished = timezone.now()
    return Job.objects.create(
        owner=owner,
        kind="primes",
        params={"below": 10},
        status=status,
        created=finished - timedelta(seconds=took),
        started=finished - timedelta(seconds=took),
        finished=None if status == Status.RUNNING else finished,
        **fields,
    )


def _notified(job: Job) -> list[tuple[str, str, str, str]]:
    rows = Notification.objects.filter(recipient_id=job.owner_id, url=job.get_absolute_url())
    return [(n.title, n.body, n.level, n.url) for n in rows]


@pytest.mark.django_db(transaction=True)
def test_only_jobs_that_took_a_while_and_were_not_cancelled_notify() -> None:
    carol = get_user_model().objects.create_user("carol-notices")
    slow = _job(carol, Status.SUCCEEDED, 60, result={"count": 1234567, "download_url": "/x/"})
    quick = _job(carol, Status.SUCCEEDED, 1, result={"count": 4})
    cancelled = _job(carol, Status.CANCELLED, 60)
    for job in (slow, quick, cancelled):
        notify_owner_on_commit(job)
    url = slow.get_absolute_url()
    assert _notified(slow) == [("Job Count primes finished", "count: 1,234,567", "success", url)]
    assert _notified(quick) == [], "a job that ended within seconds ends without a notification"
    assert _notified(cancelled) == [], "whoever cancelled a job knows"

    with override_settings(JOBS_NOTIFY_AFTER_SECONDS=None):
        muted = _job(carol, Status.SUCCEEDED, 60, result={"count": 4})
        notify_owner_on_commit(muted)
    assert _notified(muted) == []


@pytest.mark.django_db(transaction=True)
def test_a_failed_job_notifies_with_its_error_and_a_rolled_back_one_does_not() -> None:
    dave = get_user_model().objects.create_user("dave-notices")
    running = _job(dave, Status.RUNNING, 60)
    assert fail_job(running.pk, "disk full")
    assert _notified(running) == [
        ("Job Count primes failed", "disk full", "error", running.get_absolute_url())
    ]

    # The notification waits for the job's outcome to commit: rolled back, nobody hears of it.
    other = _job(dave, Status.FAILED, 60, error="never committed")
    with pytest.raises(RuntimeError), transaction.atomic():
        notify_owner_on_commit(other)
        raise RuntimeError("roll back")
    assert _notified(other) == []
