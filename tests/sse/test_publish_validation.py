"""sse.publish() refuses bad input with ValueError before anything is stored."""

from __future__ import annotations

import datetime
import decimal
import json
import re
import uuid

import pytest
from django.test import override_settings

import sse
from sse.models import ChannelHead, StoredEvent
from sse.storage import get_event_log

BAD_CHANNELS = [
    pytest.param("", id="empty"),
    pytest.param("a b", id="space"),
    pytest.param("a/b", id="slash"),
    pytest.param("a:b", id="colon"),
    pytest.param("a\nb", id="lf"),
    pytest.param("r\u00e9sum\u00e9", id="non-ascii"),
    pytest.param("x" * 81, id="81-chars"),
    pytest.param("chat.room.*", id="wildcard"),
    pytest.param(None, id="none"),
    pytest.param(42, id="int"),
    pytest.param(b"bytes", id="bytes"),
]

BAD_EVENT_NAMES = [
    pytest.param("", id="empty"),
    pytest.param("a\nb", id="lf"),
    pytest.param("a\rb", id="cr"),
    pytest.param("message\r\nid: 1", id="crlf-injection"),
    pytest.param("error", id="reserved-error"),
    pytest.param("open", id="reserved-open"),
    pytest.param("e" * 101, id="too-long"),
    pytest.param(7, id="not-a-string"),
]

BAD_DATA = [
    pytest.param(object(), id="object"),
    pytest.param({1, 2}, id="set"),
    pytest.param(b"bytes", id="bytes"),
    pytest.param({(1, 2): "tuple key"}, id="tuple-key"),
    pytest.param("\ud800", id="lone-surrogate"),
]


def assert_nothing_stored() -> None:
    assert StoredEvent.objects.count() == 0
    assert ChannelHead.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("channel", BAD_CHANNELS)
def test_bad_channel_names(channel: object) -> None:
    with pytest.raises(ValueError, match="channel"):
        sse.publish(channel, {"a": 1})  # type: ignore[arg-type]
    assert_nothing_stored()


@pytest.mark.django_db
@pytest.mark.parametrize("event", BAD_EVENT_NAMES)
def test_bad_event_names(event: object) -> None:
    with pytest.raises(ValueError, match="event"):
        sse.publish("ok", {"a": 1}, event=event)  # type: ignore[arg-type]
    assert_nothing_stored()


@pytest.mark.django_db
@pytest.mark.parametrize("data", BAD_DATA)
def test_data_that_is_not_json(data: object) -> None:
    with pytest.raises(ValueError):
        sse.publish("ok", data)
    assert_nothing_stored()


@pytest.mark.django_db
@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_regression_nan_and_infinity_were_published_as_invalid_json(number: float) -> None:
    # json.dumps writes NaN/Infinity by default; the browser's JSON.parse throws on them.
    with pytest.raises(ValueError, match="JSON"):
        sse.publish("ok", {"x": number})
    assert_nothing_stored()


@pytest.mark.django_db
@override_settings(SSE_MAX_EVENT_BYTES=100)
def test_data_over_the_size_limit() -> None:
    with pytest.raises(ValueError, match="SSE_MAX_EVENT_BYTES"):
        sse.publish("ok", "x" * 200)
    assert_nothing_stored()


@pytest.mark.parametrize("channel", BAD_CHANNELS[:4])
async def test_apublish_rejects_before_touching_the_database(channel: object) -> None:
    # No database fixture: a DB access here would fail the test.
    with pytest.raises(ValueError, match="channel"):
        await sse.apublish(channel, {"a": 1})  # type: ignore[arg-type]


async def test_publish_from_async_code_points_to_apublish() -> None:
    with pytest.raises(RuntimeError, match="apublish"):
        sse.publish("ok", {"a": 1})


@pytest.mark.django_db
def test_valid_event_is_stored_as_compact_json_and_gets_a_cursor_id() -> None:
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    value = {"when": when, "n": decimal.Decimal("1.5"), "u": uuid.UUID(int=1), "t": "h\u00e9\u2028"}
    first = sse.publish("ok", value, event="note")
    second = sse.publish("ok", [1])
    tag = first.split(":")[0]
    # Each id carries the check the log drew for its event: "<tag>:<seq>_<check>".
    assert re.fullmatch(rf"{tag}:1_[0-9a-z]{{4}}", first) and re.fullmatch(rf"{tag}:2_[0-9a-z]{{4}}", second)
    stored = get_event_log().read("ok", 0, 10)
    assert [(e.seq, e.event) for e in stored] == [(1, "note"), (2, None)]
    assert json.loads(stored[0].data) == {
        "when": "2026-01-02T03:04:05Z",
        "n": "1.5",
        "u": "00000000-0000-0000-0000-000000000001",
        "t": "h\u00e9\u2028",
    }
    assert stored[1].data == "[1]"


@pytest.mark.django_db
def test_channel_names_at_the_limits_are_accepted() -> None:
    for name in ["a", "A-z_0.9", "x" * 80]:
        sse.publish(name, None)
    assert StoredEvent.objects.count() == 3
