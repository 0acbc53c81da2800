from __future__ import annotations

import pytest

from sse.wire.cursor import (
    CHECKS,
    InvalidCursor,
    LogPosition,
    channel_tag,
    format_check,
    format_cursor,
    new_check,
    new_log_id,
    parse_cursor,
)


def test_tag_is_stable_short_ascii_and_depends_on_the_channel_list() -> None:
    tag = channel_tag(["a", "b"], None)
    assert tag == channel_tag(("a", "b"), None)
    assert tag.isascii() and tag.isalnum() and 1 <= len(tag) <= 7
    assert tag != channel_tag(["a"], None)
    assert tag != channel_tag(["b", "a"], None)
    # "a\nb" cannot be a channel name, so joining with LF cannot collide.
    assert channel_tag(["ab"], None) != channel_tag(["a", "b"], None)


def test_round_trip() -> None:
    tag = channel_tag(["x", "y", "z"], None)
    value = format_cursor(tag, [0, 17, 123456789012345678])
    assert value == f"{tag}:0.17.123456789012345678"
    assert parse_cursor(value, tag, 3) == [(0, None), (17, None), (123456789012345678, None)]


def test_round_trip_with_checks() -> None:
    tag = channel_tag(["x", "y", "z"], None)
    value = format_cursor(tag, [0, 17, 123456789012345678], [None, 5, CHECKS - 1])
    # Seq 0 (no event yet) carries no check; the others carry four base-36 characters.
    assert value == f"{tag}:0.17_0005.123456789012345678_zzzz"
    assert parse_cursor(value, tag, 3) == [
        LogPosition(0, None),
        LogPosition(17, 5),
        LogPosition(123456789012345678, CHECKS - 1),
    ]
    assert format_cursor(tag, [0, 3, 4], [7, None, 0]) == f"{tag}:0.3.4_0000"


def test_checks_are_random_and_four_base36_characters() -> None:
    checks = {new_check() for _ in range(200)}
    assert len(checks) > 190 and all(0 <= c < CHECKS for c in checks)
    assert all(len(format_check(c)) == 4 for c in (0, 35, 36, CHECKS - 1))
    assert CHECKS == 36**4


@pytest.mark.parametrize(
    "value",
    [
        "abc:0_0001",
        "abc:1_",
        "abc:1_abc",
        "abc:1_abcde",
        "abc:1_ABCD",
        "abc:1__abcd",
        "abc:*_abcd",
        "abc:1_ab-d",
    ],
)
def test_malformed_checks(value: str) -> None:
    with pytest.raises(InvalidCursor, match="malformed"):
        parse_cursor(value, "abc", 1)


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


def test_the_tag_names_the_log_once_it_is_known() -> None:
    bare = channel_tag(["a", "b"], None)
    tag = channel_tag(["a", "b"], "k3f9x")
    assert tag == f"k3f9x-{bare}"
    value = format_cursor(tag, [4, 2])
    assert value == f"k3f9x-{bare}:4.2"
    assert parse_cursor(value, tag, 2) == [(4, None), (2, None)]


@pytest.mark.parametrize(
    "value",
    [
        "zzzzz-abc:1",  # minted on a log since recreated
        "abc:1",  # minted before the log had a name (or by an older version)
    ],
)
def test_an_id_of_another_log_is_refused(value: str) -> None:
    with pytest.raises(InvalidCursor, match="other-log"):
        parse_cursor(value, "k3f9x-abc", 1)


def test_other_channels_win_over_another_log() -> None:
    with pytest.raises(InvalidCursor, match="other-channels"):
        parse_cursor("zzzzz-zzz:1", "k3f9x-abc", 1)
    with pytest.raises(InvalidCursor, match="malformed"):
        parse_cursor("k3f9x--abc:1", "k3f9x-abc", 1)


def test_log_ids_are_short_random_ascii() -> None:
    ids = {new_log_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 5 and i.isascii() and i.isalnum() and i == i.lower() for i in ids)


def test_a_star_seq_means_from_the_head() -> None:
    tag = channel_tag(["x", "y", "z"], None)
    assert parse_cursor(f"{tag}:4.*.9_0a0z", tag, 3) == [(4, None), None, (9, int("a0z", 36))]
    assert parse_cursor(f"{tag}:*.*.*", tag, 3) == [None, None, None]
    for bad in (f"{tag}:4.**.9", f"{tag}:4.*1.9", f"{tag}:4..9"):
        with pytest.raises(InvalidCursor, match="malformed"):
            parse_cursor(bad, tag, 3)
