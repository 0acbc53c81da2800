"""The database event log: sequences, atomicity with the caller's transaction, retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from sse.models import ChannelHead, LogIdentity, StoredEvent
from sse.storage.db import DatabaseEventLog

pytestmark = pytest.mark.django_db(transaction=True)


def test_sequences_count_per_channel_from_one() -> None:
    log = DatabaseEventLog()
    assert [log.append("a", "tick", str(n), ephemeral=False) for n in range(3)] == [1, 2, 3]
    assert log.append("b", None, "x", ephemeral=False) == 1
    assert log.heads(["a", "b", "c"]) == {"a": 3, "b": 1, "c": 0}
    events = log.read("a", 1, 10)
    assert [(e.seq, e.event, e.data) for e in events] == [(2, "tick", "1"), (3, "tick", "2")]
    assert log.read("b", 0, 10)[0].event is None


def test_a_rolled_back_transaction_leaves_no_event_and_no_bumped_head() -> None:
    log = DatabaseEventLog()
    log.append("a", None, "kept", ephemeral=False)
    with pytest.raises(RuntimeError), transaction.atomic():
        log.append("a", None, "gone", ephemeral=False)
        raise RuntimeError
    assert log.heads(["a"]) == {"a": 1}
    assert log.append("a", None, "next", ephemeral=False) == 2
    assert [e.data for e in log.read("a", 0, 10)] == ["kept", "next"]


def test_a_failed_insert_breaks_the_callers_transaction_instead_of_committing_a_gap() -> None:
    log = DatabaseEventLog()
    log.append("a", None, "one", ephemeral=False)
    # An event row already holds the next number: the INSERT fails after the head was bumped.
    StoredEvent.objects.create(channel="a", seq=2, data="squatter")
    with pytest.raises(IntegrityError), transaction.atomic():
        log.append("a", None, "two", ephemeral=False)
    assert ChannelHead.objects.get(name="a").last_seq == 1


def test_ephemeral_channels_keep_only_the_latest_event() -> None:
    log = DatabaseEventLog()
    for n in range(3):
        log.append("dash", "metrics", str(n), ephemeral=True)
    assert [(e.seq, e.data) for e in log.read("dash", 0, 10)] == [(3, "2")]


def test_trim_by_age_and_by_count() -> None:
    log = DatabaseEventLog()
    for n in range(5):
        log.append("old", None, str(n), ephemeral=False)
    StoredEvent.objects.filter(channel="old", seq__lte=2).update(created=timezone.now() - timedelta(hours=2))
    for n in range(5):
        log.append("busy", None, str(n), ephemeral=False)
    assert log.trim(max_age_seconds=3600, max_events_per_channel=3) == 2 + 2
    assert [e.seq for e in log.read("old", 0, 10)] == [3, 4, 5]
    assert [e.seq for e in log.read("busy", 0, 10)] == [3, 4, 5]
    assert log.first_seqs(["old", "busy"]) == {"old": 3, "busy": 3}
    # Recent rows are not "old": the stored times compare with the database's clock.
    assert log.trim(max_age_seconds=3600, max_events_per_channel=0) == 0


def test_read_merged_follows_publish_order_across_channels() -> None:
    log = DatabaseEventLog()
    order = [("a", "1"), ("b", "2"), ("a", "3"), ("c", "4"), ("b", "5"), ("a", "6")]
    for channel, data in order:
        log.append(channel, None, data, ephemeral=False)
    events = log.read_merged({"a": 0, "b": 0}, 10)
    assert [(e.channel, e.seq, e.data) for e in events] == [
        ("a", 1, "1"),
        ("b", 1, "2"),
        ("a", 2, "3"),
        ("b", 2, "5"),
        ("a", 3, "6"),
    ]
    # From positions, in pages.
    assert [e.data for e in log.read_merged({"a": 1, "b": 0}, 2)] == ["2", "3"]
    assert [e.data for e in log.read_merged({"a": 2, "b": 1, "c": 0}, 10)] == ["4", "5", "6"]
    assert log.read_merged({}, 10) == []


def test_the_log_has_a_name_that_a_recreated_log_does_not_share() -> None:
    # A flushed database lost the row the migration wrote: the first use names it again.
    LogIdentity.objects.all().delete()
    log = DatabaseEventLog()
    name = log.identity()
    assert name.isalnum() and 1 <= len(name) <= 8
    assert name == DatabaseEventLog().identity() == LogIdentity.objects.get().value
    assert log.known_identity() == name  # ids minted on this log from now on carry it
    LogIdentity.objects.all().delete()
    assert DatabaseEventLog().identity() != name
    assert log.identity() == name  # read once: a log in use keeps its name for the process's life
