"""The database log's tail: its newest rows across channels, for operators (``EventLog.tail``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import Q, QuerySet

from sse.models import StoredEvent
from sse.storage.base import LogTail, TailEvent

__all__ = ["TailQueries"]


def _tail_event(row: StoredEvent) -> TailEvent:
    return TailEvent(row.pk, row.channel, row.seq, row.event or None, row.data, row.created)


class TailQueries:
    """``tail`` and ``tail_rows`` on ``StoredEvent`` (a mixin of ``DatabaseEventLog``)."""

    @property
    def using(self) -> str:
        """The database alias (``DatabaseEventLog``'s)."""
        raise NotImplementedError

    def _rows(self, exclude: Sequence[str]) -> QuerySet[StoredEvent]:
        rows = StoredEvent.objects.using(self.using)
        if exclude:
            left_out = Q()
            for prefix in exclude:
                left_out |= Q(channel__startswith=prefix)
            rows = rows.exclude(left_out)
        return rows

    def tail(self, limit: int, *, after: int = 0, exclude: Sequence[str] = ()) -> LogTail:
        rows = self._rows(exclude)
        newest = list(rows.filter(id__gt=after).order_by("-id")[:limit])
        left_out = 0
        if newest and len(newest) == limit:
            left_out = rows.filter(id__gt=after, id__lt=newest[-1].pk).count()
        return LogTail([_tail_event(row) for row in newest], left_out)

    def tail_rows(self, rows: Iterable[int], *, exclude: Sequence[str] = ()) -> list[TailEvent]:
        wanted: list[Any] = list(rows)
        if not wanted:
            return []
        return [_tail_event(row) for row in self._rows(exclude).filter(id__in=wanted)]
