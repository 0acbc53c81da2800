from __future__ import annotations

import pytest

from sse.cursor import InvalidCursor, channel_tag, format_cursor, parse_cursor


def test_tag_is_stable_short_ascii_and_depends_on_the_channel_list() -> None:
    tag = channel_tag(["a", "b"])
    assert tag == channel_tag(("a", "b"))
    assert tag.isascii() and tag.isalnum() and 1 <= len(tag) <= 7
    assert tag != channel_tag(["a"])
    assert tag != channel_tag(["b", "a"])
    # "a\nb" cannot be a channel name, so joining with LF cannot collide.
    assert channel_tag(["ab"]) != channel_tag(["a", "b"])


def test_round_trip() -> None:
    tag = channel_tag(["x", "y", "z"])
    value = format_cursor(tag, [0, 17, 123456789012345678])
    assert value == f"{tag}:0.17.123456789012345678"
    assert parse_cursor(value, tag, 3) == [0, 17, 123456789012345678]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "malformed"),
        ("garbage", "malformed"),
        ("abc:", "malformed"),
        ("abc:1.", "malformed"),
        ("abc:1..2", "malformed"),
        ("abc:-1", "malformed"),
        ("abc:1 ", "malformed"),
        ("ABC:1", "malformed"),
        ("abcdefgh:1", "malformed"),
        ("abc:1234567890123456789", "malformed"),
        ("abc:\u0661", "malformed"),  # an Arabic-Indic digit is not an ASCII digit
        ("zzz:1", "other-channels"),
    ],
)
def test_invalid_cursors(value: str, reason: str) -> None:
    with pytest.raises(InvalidCursor, match=reason):
        parse_cursor(value, "abc", 1)


def test_cursor_with_another_channel_count() -> None:
    with pytest.raises(InvalidCursor, match="other-channels"):
        parse_cursor("abc:1.2", "abc", 1)
