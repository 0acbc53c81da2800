"""Event ids that say which log a stream reads and where it is on each of its channels.

A stream over channels c1..ck (sorted) stamps each event with
``<log>-<tag>:<seq1>.<seq2>...<seqk>``: ``log`` names the event log (made with it,
kept in its database, so a recreated database gets a new one), ``tag``
fingerprints the channel list, each seq is the last event of that channel the
client has. ASCII, short, and enough to resume the stream exactly, or to tell
that it cannot be: an id of other channels or of another log is refused.

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

__all__ = [
    "InvalidCursor",
    "channel_tag",
    "current_log_id",
    "format_cursor",
    "new_log_id",
    "parse_cursor",
    "set_log_id",
]

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_LOG_ID_LENGTH = 5  # 36**5: a recreated log draws its predecessor's name once in 60 million
_SEQ = r"(?:[0-9]{1,18}|\*)"
_CURSOR = re.compile(rf"(?:([0-9a-z]{{1,8}})-)?([0-9a-z]{{1,7}}):({_SEQ}(?:\.{_SEQ})*)")

# The name of this process's event log, once the log was read (sse.storage sets it).
_log_id: str | None = None


class InvalidCursor(ValueError):
    pass


def new_log_id() -> str:
    """A fresh random name for an event log."""
    return "".join(secrets.choice(_DIGITS) for _ in range(_LOG_ID_LENGTH))


def set_log_id(value: str | None) -> None:
    """The name of the log ids are minted on from now on (None: not known yet)."""
    global _log_id
    _log_id = value or None


def current_log_id() -> str | None:
    return _log_id


def channel_tag(channels: Sequence[str]) -> str:
    """The id prefix of a stream over ``channels``: the log's name and the channels' fingerprint."""
    tag = _base36(zlib.crc32("\n".join(channels).encode()))
    log = _log_id
    return f"{log}-{tag}" if log else tag


def _base36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _DIGITS[r] + out
        if not n:
            return out


def format_cursor(tag: str, seqs: Sequence[int]) -> str:
    return tag + ":" + ".".join(map(str, seqs))


def parse_cursor(value: str, tag: str, count: int) -> list[int | None]:
    """The seqs of a cursor minted for these channels on this log (None: ``*``); InvalidCursor otherwise.

    The reason is ``malformed``, ``other-channels`` or ``other-log`` (an id of a log
    that has since been recreated: its positions mean nothing here).
    """
    m = _CURSOR.fullmatch(value)
    if m is None:
        raise InvalidCursor("malformed")
    log, _, channels = tag.rpartition("-")
    if m.group(2) != channels:
        raise InvalidCursor("other-channels")
    seqs = [None if s == "*" else int(s) for s in m.group(3).split(".")]
    if len(seqs) != count:
        raise InvalidCursor("other-channels")
    if (m.group(1) or "") != log:
        raise InvalidCursor("other-log")
    return seqs
