from __future__ import annotations

from django.db import models
from django.utils import timezone

from sse.installed import require_installed

# Without the app, Django's own error here ("doesn't declare an explicit app_label") names no fix.
require_installed("sse.models")


class ChannelHead(models.Model):
    """The last sequence number handed out on a channel, with the checks of its last two events.

    A check is a random number the log draws for each event (``sse.wire.cursor.new_check``); ids
    carry it, so a log restored from a backup or emptied, whose seqs count up again, is
    told apart from the one the client read. Null: none drawn (events from before checks).
    """

    name = models.CharField(max_length=80, primary_key=True)
    last_seq = models.BigIntegerField(default=0)
    #: The check of event ``last_seq`` (kept when retention trims the event itself).
    last_check = models.IntegerField(null=True, blank=True)
    #: The check of event ``last_seq - 1``: where ``append`` reads the new event's ``prev_check``.
    prev_check = models.IntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name}@{self.last_seq}"


class StoredEvent(models.Model):
    """One published event, kept for resume until retention trims it."""

    channel = models.CharField(max_length=80)
    seq = models.BigIntegerField()
    event = models.CharField(max_length=100, blank=True)
    data = models.TextField()
    created = models.DateTimeField(default=timezone.now, db_index=True)
    #: The check drawn for this event, and the one of the event before it (seq - 1): a
    #: client at seq - 1 whose event retention trimmed is still vouched for by this row.
    event_check = models.IntegerField(null=True, blank=True)
    prev_check = models.IntegerField(null=True, blank=True)

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
