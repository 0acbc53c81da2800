"""The default event log: three tables in the Django database (heads, events, the log's name)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta

from django.db import DEFAULT_DB_ALIAS, DatabaseError, close_old_connections, connections, router, transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from sse.models import ChannelHead, LogIdentity, StoredEvent
from sse.storage.base import ChannelSummary, EventLog, LoggedEvent
from sse.storage.db_rows import RowQueries
from sse.storage.db_tail import TailQueries
from sse.wire.cursor import LogPosition, new_check, new_log_id

_CHUNK = 500
# A head row created by another publisher is found by the next UPDATE; only a row deleted
# again meanwhile (a flush racing the publish) needs another turn.
_HEAD_ATTEMPTS = 3

logger = logging.getLogger("sse.log")


class DatabaseEventLog(RowQueries, TailQueries, EventLog):
    """Order across channels is the events' primary key: on SQLite (one writer at a time)
    that is commit order; on PostgreSQL it is insert order, which is commit order for the
    events of one publisher (each publish commits before the next starts, or they commit
    together) and, through the head row's lock, for the events of one channel.

    Each event gets a random check (``event_check``), kept with it, with its
    predecessor's (``prev_check``), and on the head row (``last_check``, ``prev_check``):
    the same UPDATE that numbers the event moves them along, so publishing costs no
    extra statement.
    """

    keeps_checks = True
    numbers_rows = True

    def __init__(self, using: str | None = None) -> None:
        self._using = using
        self._identity: str | None = None
        self._tables_found = False

    @property
    def using(self) -> str:
        return self._using or router.db_for_write(StoredEvent)

    def append(
        self, channel: str, event: str | None, data: str, *, ephemeral: bool, check: int | None = None
    ) -> int:
        return self.append_numbered(channel, event, data, ephemeral=ephemeral, check=check)[0]

    def append_numbered(
        self, channel: str, event: str | None, data: str, *, ephemeral: bool, check: int | None = None
    ) -> tuple[int, int | None]:
        if check is None:
            check = new_check()
        self._learn_identity()  # publish() returns an id with the log's name
        using = self.using
        # No savepoint of its own: if a statement fails, the caller's transaction is
        # broken as a whole, so a bumped head never commits without its event.
        with transaction.atomic(using=using, savepoint=False):
            seq, prev_check = self._bump_head(using, channel, check)
            row = self._insert(using, channel, seq, event, data, check, prev_check)
            if ephemeral and seq > 1:
                StoredEvent.objects.using(using).filter(channel=channel, seq__lt=seq).delete()
        return seq, row

    def _bump_head(self, using: str, channel: str, check: int) -> tuple[int, int | None]:
        """The channel's next seq and the check of the event before it, the head row moved on.

        The row lock taken here is held until commit, so per channel the sequence order is
        the commit order, across processes. A channel without a head row gets one; a
        publisher that loses the race to create it takes the UPDATE path again.
        """
        connection = connections[using]
        head_table = connection.ops.quote_name(ChannelHead._meta.db_table)
        for _attempt in range(_HEAD_ATTEMPTS):
            # Right-hand sides read the row as it was: prev_check takes the old last_check.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {head_table} SET last_seq = last_seq + 1, prev_check = last_check, "
                    "last_check = %s WHERE name = %s RETURNING last_seq, prev_check",
                    [check, channel],
                )
                row = cursor.fetchone()
            if row is not None:
                return int(row[0]), row[1]
            with transaction.atomic(using=using):
                _head, created = ChannelHead.objects.using(using).get_or_create(
                    name=channel, defaults={"last_seq": 1, "last_check": check}
                )
            if created:
                return 1, None
            # Lost the race to create the head row: it exists now, so the UPDATE finds it.
        raise DatabaseError(f"the head row of channel {channel!r} vanished {_HEAD_ATTEMPTS} times")

    @staticmethod
    def _insert(
        using: str, channel: str, seq: int, event: str | None, data: str, check: int, prev_check: int | None
    ) -> int:
        """The event's row. One plain INSERT: the ORM's create() was over half of a publish's time."""
        connection = connections[using]
        quote = connection.ops.quote_name
        columns = ", ".join(
            quote(name)
            for name in ("channel", "seq", "event", "data", "created", "event_check", "prev_check")
        )
        table = StoredEvent._meta.db_table
        created = connection.ops.adapt_datetimefield_value(timezone.now())
        returning = connection.features.can_return_columns_from_insert
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {quote(table)} ({columns}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)" + (" RETURNING id" if returning else ""),
                (channel, seq, event or "", data, created, check, prev_check),
            )
            if returning:
                return int(cursor.fetchone()[0])
            return int(connection.ops.last_insert_id(cursor, table, "id"))

    def heads(self, channels: Iterable[str]) -> dict[str, int]:
        names = list(channels)
        result = dict.fromkeys(names, 0)
        qs = ChannelHead.objects.using(self.using)
        for i in range(0, len(names), _CHUNK):
            chunk = names[i : i + _CHUNK]
            result.update(qs.filter(name__in=chunk).values_list("name", "last_seq"))
        return result

    def positions(self, channels: Iterable[str]) -> dict[str, LogPosition]:
        names = list(channels)
        result = dict.fromkeys(names, LogPosition(0))
        qs = ChannelHead.objects.using(self.using)
        for i in range(0, len(names), _CHUNK):
            rows = qs.filter(name__in=names[i : i + _CHUNK]).values_list("name", "last_seq", "last_check")
            for name, seq, check in rows:
                result[name] = LogPosition(seq, check if seq else None)
        return result

    def checks_at(self, points: Mapping[str, int]) -> dict[str, int | None]:
        result: dict[str, int | None] = {}
        wanted = [(name, seq) for name, seq in points.items() if seq > 0]
        qs = StoredEvent.objects.using(self.using)
        for i in range(0, len(wanted), _CHUNK):
            where = Q()
            for name, seq in wanted[i : i + _CHUNK]:
                where |= Q(channel=name, seq__in=(seq, seq + 1))
            rows = qs.filter(where).values_list("channel", "seq", "event_check", "prev_check")
            for name, seq, check, prev in sorted(rows, key=lambda row: -row[1]):
                # The event itself (read last, so it wins), or the one after it.
                result[name] = check if seq == points[name] else prev
        # Both events trimmed, or the position is the head whose event retention took.
        rest = [name for name, _ in wanted if name not in result]
        if rest:
            for name, head in self.positions(rest).items():
                if head.seq == points[name]:
                    result[name] = head.check
        return result

    def first_seqs(self, channels: Iterable[str]) -> dict[str, int]:
        names = list(channels)
        result: dict[str, int] = {}
        qs = StoredEvent.objects.using(self.using)
        for i in range(0, len(names), _CHUNK):
            rows = (
                qs.filter(channel__in=names[i : i + _CHUNK])
                .values("channel")
                .annotate(first=Min("seq"))
                .values_list("channel", "first")
            )
            result.update(rows)
        return result

    def read(self, channel: str, after: int, limit: int) -> list[LoggedEvent]:
        rows = (
            StoredEvent.objects.using(self.using)
            .filter(channel=channel, seq__gt=after)
            .order_by("seq")
            .values_list("seq", "event", "data", "event_check", "prev_check")[:limit]
        )
        return [
            LoggedEvent(channel, seq, event or None, data, check, prev)
            for seq, event, data, check, prev in rows
        ]

    def read_merged(self, after: Mapping[str, int], limit: int) -> list[LoggedEvent]:
        if not after:
            return []
        where = Q()
        for channel, seq in after.items():
            where |= Q(channel=channel, seq__gt=seq)
        rows = (
            StoredEvent.objects.using(self.using)
            .filter(where)
            .order_by("id")
            .values_list("channel", "seq", "event", "data", "event_check", "prev_check")[:limit]
        )
        return [
            LoggedEvent(channel, seq, event or None, data, check, prev)
            for channel, seq, event, data, check, prev in rows
        ]

    def setup_problem(self) -> str | None:
        if self._tables_found:  # tables once there stay there: one look per process
            return None
        using = self.using
        connection = connections[using]
        with connection.cursor() as cursor:
            existing = set(connection.introspection.table_names(cursor))
        missing = [
            model._meta.db_table
            for model in (ChannelHead, StoredEvent, LogIdentity)
            if model._meta.db_table not in existing
        ]
        if not missing:
            self._tables_found = True
            return None
        migrate = "python manage.py migrate" + ("" if using == DEFAULT_DB_ALIAS else f" --database {using}")
        return (
            f"the event log's tables are missing from database {using!r} ({', '.join(missing)}): "
            f"sse's migrations were not applied there; run {migrate}"
        )

    def identity(self) -> str:
        if self._identity is not None:
            return self._identity
        using = self.using
        value = LogIdentity.objects.using(using).filter(pk=1).values_list("value", flat=True).first()
        if value is None:
            # The migration names the log; a flushed database lost the row: name it again.
            rows = LogIdentity.objects.using(using)
            with transaction.atomic(using=using):
                row, _ = rows.get_or_create(pk=1, defaults={"value": new_log_id()})
            if connections[using].in_atomic_block:
                # Inside the caller's transaction, which may yet roll back: not kept.
                return row.value
            value = row.value
        self._identity = value
        return value

    def known_identity(self) -> str | None:
        return self._identity

    def _learn_identity(self) -> None:
        if self._identity is not None:
            return
        try:
            if connections[self.using].in_atomic_block:
                # A savepoint: a failure here must not break the caller's transaction.
                with transaction.atomic(using=self.using):
                    self.identity()
            else:
                self.identity()
        except DatabaseError as exc:
            # Not migrated yet: publishing goes on, its ids do not name the log.
            logger.warning("reading the event log's name failed: %s", exc)

    def trim(self, *, max_age_seconds: float, max_events_per_channel: int) -> int:
        qs = StoredEvent.objects.using(self.using)
        deleted = 0
        if max_age_seconds > 0:
            cutoff = timezone.now() - timedelta(seconds=max_age_seconds)
            deleted += qs.filter(created__lt=cutoff).delete()[0]
        if max_events_per_channel > 0:
            over = (
                qs.values("channel")
                .annotate(n=Count("id"), last=Max("seq"))
                .filter(n__gt=max_events_per_channel)
                .values_list("channel", "last")
            )
            for channel, last in list(over):
                deleted += qs.filter(channel=channel, seq__lte=last - max_events_per_channel).delete()[0]
        return deleted

    def published_total(self) -> int:
        # Every publish bumps one channel head: their sum counts every event ever published.
        total = ChannelHead.objects.using(self.using).aggregate(total=Sum("last_seq"))["total"]
        return int(total or 0)

    def channel_summaries(self) -> list[ChannelSummary]:
        rows = (
            StoredEvent.objects.using(self.using)
            .values("channel")
            .annotate(events=Count("id"), last_seq=Max("seq"), last_at=Max("created"))
            .order_by("channel")
        )
        return [ChannelSummary(r["channel"], r["events"], r["last_seq"], r["last_at"]) for r in rows]

    def on_commit(self, callback: Callable[[], None]) -> None:
        transaction.on_commit(callback, using=self.using)

    def close(self) -> None:
        close_old_connections()
