from __future__ import annotations

from django.db import models
from django.utils import timezone


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
