from __future__ import annotations

from django.core.signals import request_started
from django.db import models
from django.utils import timezone

from sse.apps import require_installed

# Without the app, Django's own error here ("doesn't declare an explicit app_label") names no fix.
require_installed("sse.models")


class ChannelHead(models.Model):
    """The last sequence number handed out on a channel."""

    name = models.CharField(max_length=80, primary_key=True)
    last_seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}@{self.last_seq}"


class StoredEvent(models.Model):
    """One published event, kept for resume until retention trims it."""

    channel = models.CharField(max_length=80)
    seq = models.BigIntegerField()
    event = models.CharField(max_length=100, blank=True)
    data = models.TextField()
    created = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        permissions = [("publish_event", "Can publish events through the API")]
        constraints = [
            models.UniqueConstraint(fields=["channel", "seq"], name="sse_event_channel_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.channel}#{self.seq}"


class LogIdentity(models.Model):
    """The event log's name, made with the log: ids of a log since recreated are told apart.

    One row (pk 1), written by the migration that creates the table, or on first use
    when a database lost it (flushed).
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    value = models.CharField(max_length=8)
    created = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.value


def _learn_log_id(**kwargs: object) -> None:
    # Before the first view of a process runs (an app's async view may build ids at once,
    # with no database access of its own): read the log's name in this sync hop.
    from sse.cursor import current_log_id

    if current_log_id() is None:
        from sse.storage import learn_log_id

        learn_log_id()


request_started.connect(_learn_log_id, dispatch_uid="sse.learn_log_id")
