from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class Status(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"


ACTIVE = (Status.QUEUED, Status.RUNNING)
FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)


class Job(models.Model):
    """One run of a job kind for a user, with its progress and outcome."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=50)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    message = models.CharField(max_length=200, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    # Last sign of life from the worker running it; stale ones are failed by the sweeper.
    heartbeat = models.DateTimeField(null=True, blank=True)
    # When the code running it returned, also after a cancel (proof that the work stopped).
    exited = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["owner", "-created"], name="jobs_owner_created")]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"

    @property
    def channel(self) -> str:
        return job_channel(self.id)

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def percent(self) -> int:
        if self.status == Status.SUCCEEDED:
            return 100
        if self.total <= 0:
            return 0
        return max(0, min(100, self.done * 100 // self.total))

    def get_absolute_url(self) -> str:
        return reverse("jobs:detail", args=[self.id])

    @property
    def stream_url(self) -> str:
        return reverse("jobs:stream", args=[self.id])

    @property
    def download_url(self) -> str | None:
        if isinstance(self.result, dict) and self.result.get("file"):
            return reverse("jobs:download", args=[self.id])
        return None

    def visible_to(self, user: Any) -> bool:
        return bool(user.is_authenticated and (user.pk == self.owner_id or user.is_staff))

    # The event payloads the streams send.
    def progress_event(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "status": self.status,
            "done": self.done,
            "total": self.total,
            "percent": self.percent,
            "message": self.message,
        }

    def final_event(self) -> tuple[str, dict[str, Any]]:
        if self.status == Status.SUCCEEDED:
            return "complete", {"id": str(self.id), "status": self.status, "result": self.result}
        if self.status == Status.FAILED:
            return "failed", {"id": str(self.id), "status": self.status, "error": self.error}
        if self.status == Status.CANCELLED:
            return "cancelled", {"id": str(self.id), "status": self.status}
        raise ValueError(f"job {self.id} has not finished")


class JobFile(models.Model):
    """A file a job produced, kept in the database so every process can serve it."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="file")
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    content = models.BinaryField()
    size = models.PositiveBigIntegerField()
    created = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Submitter(models.Model):
    """One row per user who ever started a job: starting one locks it first.

    The per-user cap counts the owner's unfinished jobs and then adds one; two
    requests must not both count before either adds. Each submission's
    transaction starts by writing this row, which holds the row lock on
    PostgreSQL (and the database's write lock on SQLite) until it commits, so
    one user's submissions take turns while other users' do not wait.
    """

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    submitted = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"submitter {self.owner_id}"

    @classmethod
    def take_turn(cls, owner_pk: Any) -> None:
        """Lock the owner's row (creating it the first time) until the transaction ends.

        Submissions take it to count against the per-user cap, and the runner takes it to
        count the owner's running jobs before claiming one: one owner's claims and
        submissions take turns, other owners' do not wait.
        """
        now = timezone.now()
        if cls.objects.filter(owner_id=owner_pk).update(submitted=now):
            return
        # First time for this user: two racing first writers insert once; the loser
        # waits on the winner's row, then locks it with the update.
        cls.objects.bulk_create([cls(owner_id=owner_pk, submitted=now)], ignore_conflicts=True)
        cls.objects.filter(owner_id=owner_pk).update(submitted=now)


def job_channel(job_id: object) -> str:
    return f"jobs.job.{job_id}"


def user_channel(user_pk: object) -> str:
    return f"jobs.user.{user_pk}"
