"""Event ids that say which log a stream reads and where it is on each of its channels.

A stream over channels c1..ck (sorted) stamps each event with
``<log>-<tag>:<pos1>.<pos2>...<posk>``: ``log`` names the event log (made with it,
kept in its database, so a recreated database gets a new one), ``tag``
fingerprints the channel list, each position is the last event of that channel the
client has: ``<seq>_<check>``, its seq and the four base-36 characters of the random
check the log drew for that event (``0`` alone before a channel's first event). ASCII,
short, and enough to resume the stream exactly, or to tell that it cannot be: an id of
other channels or of another log is refused, and a position whose check is not the
one the log holds at that seq (the log was restored from a backup, or emptied, and
numbered new events again) cannot be vouched for.

A seq without a check names an event the log drew no check for (published before
checks existed, or on a log that keeps none).

A client may write ``*`` for a seq: that channel starts at its head, as on a
fresh stream. sse.js does so when it adds a channel to a stream it resumes (a
tab joining the connection its browser shares): the other channels resume
exactly, the new one starts now.
"""

from __future__ import annotations

import re
import secrets
import zlib
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

__all__ = [
    "CHECKS",
    "InvalidCursor",
    "LogPosition",
    "channel_tag",
    "format_check",
    "format_cursor",
    "format_position",
    "new_check",
    "new_log_id",
    "parse_cursor",
]

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_LOG_ID_LENGTH = 5  # 36**5: a recreated log draws its predecessor's name once in 60 million
_CHECK_LENGTH = 4
#: How many checks there are: a new event at a seq a client had matches its old check once in 1.7 million.
CHECKS = 36**_CHECK_LENGTH
_SEQ = rf"(?:[0-9]{{1,18}}(?:_[0-9a-z]{{{_CHECK_LENGTH}}})?|\*)"
_CURSOR = re.compile(rf"(?:([0-9a-z]{{1,8}})-)?([0-9a-z]{{1,7}}):({_SEQ}(?:\.{_SEQ})*)")


class InvalidCursor(ValueError):
    pass


class LogPosition(NamedTuple):
    """An event of a channel: its seq, and the check the log drew for it (None: none drawn,
    or seq 0, before the channel's first event)."""

    seq: int
    check: int | None = None


def new_check() -> int:
    """A fresh random check for an event being appended (0 <= check < CHECKS)."""
    return secrets.randbelow(CHECKS)


def format_check(check: int) -> str:
    out = _base36(check)
    return "0" * (_CHECK_LENGTH - len(out)) + out


def new_log_id() -> str:
    """A fresh random name for an event log."""
    return "".join(secrets.choice(_DIGITS) for _ in range(_LOG_ID_LENGTH))


def channel_tag(channels: Sequence[str], log_id: str | None) -> str:
    """The id prefix of a stream over ``channels``: the log's name and the channels' fingerprint.

    ``log_id``: the name of the log the stream reads, as the process's runtime read it
    (``sse.storage.current_log_id()``); None while unknown (the tag is the fingerprint alone).
    """
    tag = _base36(zlib.crc32("\n".join(channels).encode()))
    return f"{log_id}-{tag}" if log_id else tag


def _base36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _DIGITS[r] + out
        if not n:
            return out


@lru_cache(maxsize=4096)
def format_position(seq: int, check: int | None) -> str:
    """``<seq>_<check>`` (``<seq>`` without a check). Cached: an event fanned out to many
    streams of several channels has its position formatted once, not once per stream."""
    return str(seq) if check is None or not seq else f"{seq}_{format_check(check)}"


def format_cursor(tag: str, seqs: Sequence[int], checks: Sequence[int | None] | None = None) -> str:
    """The id of a stream at ``seqs`` (one per channel), each with its event's check from ``checks``."""
    if checks is None:
        return tag + ":" + ".".join(map(str, seqs))
    return tag + ":" + ".".join(map(format_position, seqs, checks))


def parse_cursor(value: str, tag: str, count: int) -> list[LogPosition | None]:
    """The positions of a cursor minted for these channels on this log (None: ``*``);
    InvalidCursor otherwise.

    The reason is ``malformed``, ``other-channels`` or ``other-log`` (an id of a log
    that has since been recreated: its positions mean nothing here).
    """
    m = _CURSOR.fullmatch(value)
    if m is None:
        raise InvalidCursor("malformed")
    log, _, channels = tag.rpartition("-")
    if m.group(2) != channels:
        raise InvalidCursor("other-channels")
    positions = [_parse_position(s) for s in m.group(3).split(".")]
    if len(positions) != count:
        raise InvalidCursor("other-channels")
    if (m.group(1) or "") != log:
        raise InvalidCursor("other-log")
    return positions


def _parse_position(text: str) -> LogPosition | None:
    if text == "*":
        return None
    digits, _, check = text.partition("_")
    seq = int(digits)
    if check and not seq:
        raise InvalidCursor("malformed")  # before the first event: no check to give
    return LogPosition(seq, int(check, 36) if check else None)
