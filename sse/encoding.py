"""The text/event-stream wire format (WHATWG HTML, "Server-sent events").

Pure functions: validation happens when an :class:`Event` is built, so a bad
event fails where it is published, never half-way through a stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "Event",
    "EventEncodingError",
    "encode_comment",
    "encode_event",
    "encode_retry",
    "split_lines",
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
    parts: list[str] = []
    if event.id is not None:
        parts.append(f"id: {event.id}\n")
    if event.event is not None:
        parts.append(f"event: {event.event}\n")
    if event.retry is not None:
        parts.append(f"retry: {event.retry}\n")
    for line in split_lines(event.data):
        parts.append(f"data: {line}\n")
    parts.append("\n")
    return "".join(parts).encode("utf-8")


def encode_comment(text: str = "") -> bytes:
    """A comment block: ignored by clients, keeps proxies and sockets alive."""
    lines = split_lines(text)
    return ("".join(f": {line}\n" if line else ":\n" for line in lines) + "\n").encode()


def encode_retry(milliseconds: int) -> bytes:
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, int) or milliseconds < 0:
        raise EventEncodingError("retry must be a non-negative int (milliseconds)")
    return f"retry: {milliseconds}\n\n".encode()
