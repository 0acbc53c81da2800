"""Event ids that say where a stream is on each of its channels.

A stream over channels c1..ck (sorted) stamps each event with
``<tag>:<seq1>.<seq2>...<seqk>``: ``tag`` fingerprints the channel list, each
seq is the last event of that channel the client has. ASCII, short, and enough
to resume the stream exactly.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

__all__ = ["InvalidCursor", "channel_tag", "format_cursor", "parse_cursor"]

_CURSOR = re.compile(r"([0-9a-z]{1,7}):([0-9]{1,18}(?:\.[0-9]{1,18})*)")


class InvalidCursor(ValueError):
    pass


def channel_tag(channels: Sequence[str]) -> str:
    crc = zlib.crc32("\n".join(channels).encode())
    return _base36(crc)


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def format_cursor(tag: str, seqs: Sequence[int]) -> str:
    return tag + ":" + ".".join(map(str, seqs))


def parse_cursor(value: str, tag: str, count: int) -> list[int]:
    """The seqs of a cursor minted for these channels; InvalidCursor otherwise."""
    m = _CURSOR.fullmatch(value)
    if m is None:
        raise InvalidCursor("malformed")
    if m.group(1) != tag:
        raise InvalidCursor("other-channels")
    seqs = [int(s) for s in m.group(2).split(".")]
    if len(seqs) != count:
        raise InvalidCursor("other-channels")
    return seqs
