"""The database log's rows: events numbered across channels by their primary key (``EventLog.rows``)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Max

from sse.models import StoredEvent
from sse.storage.base import LoggedEvent, LogRow

__all__ = ["RowQueries"]


class RowQueries:
    """``last_row``, ``rows`` and ``read_rows`` on ``StoredEvent`` (a mixin of ``DatabaseEventLog``).

    A row is the event's primary key: on SQLite (one writer at a time) drawn in commit
    order; on PostgreSQL drawn at the INSERT, so a lower row may still commit after a
    higher one was read, when the two publishes' transactions overlap.
    """

    @property
    def using(self) -> str:
        """The database alias (``DatabaseEventLog``'s)."""
        raise NotImplementedError

    def last_row(self) -> int | None:
        found = StoredEvent.objects.using(self.using).aggregate(last=Max("id"))["last"]
        return int(found or 0)

    def rows(self, after: int, upto: int, limit: int) -> list[LogRow]:
        found = (
            StoredEvent.objects.using(self.using)
            .filter(id__gt=after, id__lte=upto)
            .order_by("id")
            .values_list("id", "channel", "seq")[:limit]
        )
        return [LogRow(row, channel, seq) for row, channel, seq in found]

    def read_rows(self, rows: Sequence[int]) -> list[LoggedEvent]:
        wanted = list(rows)
        if not wanted:
            return []
        found = (
            StoredEvent.objects.using(self.using)
            .filter(id__in=wanted)
            .values_list("id", "channel", "seq", "event", "data", "event_check", "prev_check")
        )
        return [
            LoggedEvent(channel, seq, event or None, data, check, prev, row)
            for row, channel, seq, event, data, check, prev in found
        ]
