"""The text/event-stream wire format (WHATWG HTML, "Server-sent events").

Every byte a stream sends is written here. Pure functions: validation happens
when an :class:`Event` is built, so a bad event fails where it is published,
never half-way through a stream.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass

__all__ = [
    "HEARTBEAT",
    "Event",
    "EventEncodingError",
    "encode_body",
    "encode_comment",
    "encode_event",
    "encode_id",
    "encode_opening",
    "encode_reset",
    "encode_retry",
    "split_lines",
    "spread_retry_ms",
]

# The only line terminators of the format: CRLF, lone CR, lone LF.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Browsers route these names to onerror/onopen instead of named listeners.
_RESERVED_EVENT_NAMES = frozenset({"error", "open"})


class EventEncodingError(ValueError):
    """An event field that cannot be written to the stream as given."""


def split_lines(text: str) -> list[str]:
    """Split on CR, LF and CRLF only, keeping a trailing empty line."""
    return _LINE_BREAK.split(text)


def _check_single_line(field: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise EventEncodingError(f"{field} must not contain CR or LF: {value!r}")


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event; ``data`` is the text sent (JSON, for this app)."""

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.data, str):
            raise EventEncodingError("data must be a str (encode JSON first)")
        if self.event is not None:
            if not self.event:
                raise EventEncodingError("event name must not be empty")
            _check_single_line("event", self.event)
            if self.event in _RESERVED_EVENT_NAMES:
                raise EventEncodingError(
                    f"event name {self.event!r} is reserved: browsers deliver it "
                    "to onerror/onopen, not to named listeners"
                )
        if self.id is not None:
            _check_single_line("id", self.id)
            if "\0" in self.id:
                raise EventEncodingError("id must not contain NUL (clients ignore it)")
        if self.retry is not None and (
            isinstance(self.retry, bool) or not isinstance(self.retry, int) or self.retry < 0
        ):
            raise EventEncodingError("retry must be a non-negative int (milliseconds)")

    def encode(self) -> bytes:
        return encode_event(self)


def encode_event(event: Event) -> bytes:
    """The bytes of one event, ending with the blank line that dispatches it."""
    head = encode_id(event.id) if event.id is not None else b""
    return head + encode_body(event.event, event.data, retry=event.retry)


def encode_id(cursor: str) -> bytes:
    """An ``id:`` line; the caller has checked ``cursor`` (the stream's own cursor, or an Event's id)."""
    return b"id: " + cursor.encode() + b"\n"


def encode_body(event: str | None, data: str, *, retry: int | None = None) -> bytes:
    """An event's fields after ``id:``. Encoded once per event, shared by every stream that gets it."""
    head = f"event: {event}\n" if event is not None else ""
    if retry is not None:
        head += f"retry: {retry}\n"
    lines = "".join(f"data: {line}\n" for line in split_lines(data))
    return (head + lines + "\n").encode()


def encode_reset(cursor: str, reason: str) -> bytes:
    """The ``reset`` event: the client's id cannot be resumed; reload state, then follow ``cursor``."""
    return encode_id(cursor) + encode_body("reset", json.dumps({"reason": reason}))


def encode_comment(text: str = "") -> bytes:
    """A comment block: ignored by clients, keeps proxies and sockets alive."""
    return _comment_lines(text) + b"\n"


def _comment_lines(text: str) -> bytes:
    return "".join(f": {line}\n" if line else ":\n" for line in split_lines(text)).encode()


def encode_retry(milliseconds: int) -> bytes:
    return encode_opening(milliseconds)


def spread_retry_ms(milliseconds: int, spread_ms: int) -> int:
    """``milliseconds`` plus a random share of ``spread_ms``.

    For streams sent away together (a shutdown): their clients then come back at
    different moments instead of all at once.
    """
    return milliseconds + int(random.random() * spread_ms)


def encode_opening(retry_ms: int, *, cursor: str | None = None, comment: str | None = None) -> bytes:
    """A stream's first block: ``retry:``, optionally its starting ``id:`` and a comment, in one write."""
    if isinstance(retry_ms, bool) or not isinstance(retry_ms, int) or retry_ms < 0:
        raise EventEncodingError("retry must be a non-negative int (milliseconds)")
    block = f"retry: {retry_ms}\n".encode()
    if cursor is not None:
        block += encode_id(cursor)
    if comment is not None:
        block += _comment_lines(comment)
    return block + b"\n"


HEARTBEAT = encode_comment("ping")
