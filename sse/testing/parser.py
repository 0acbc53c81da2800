"""The event-stream interpretation algorithm of WHATWG HTML §9.2.6, for any bytes."""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["EventParser", "ReceivedEvent", "parse_events"]

_LINE_END = re.compile(r"[\r\n]")
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """One dispatched event, as a browser's ``MessageEvent`` has it."""

    #: The event type: the ``event:`` field, "message" when there is none.
    event: str
    #: The ``data:`` lines joined with LF.
    data: str
    #: The stream's last event id when this event was dispatched (``MessageEvent.lastEventId``).
    id: str

    def json(self) -> Any:
        """``data`` parsed as JSON (what :func:`sse.publish` sends)."""
        return json.loads(self.data)


class EventParser:
    """The event-stream interpretation algorithm (WHATWG HTML §9.2.6), incremental.

    Feed it bytes as they arrive, cut anywhere (between CR and LF, inside a
    UTF-8 character); it returns the events each piece completes. An event is
    dispatched by the blank line that ends its block, as in a browser: a block
    still open when the stream ends is never dispatched.
    """

    def __init__(self) -> None:
        #: The stream's last event id: set by the blank line ending a block with an ``id:``.
        self.last_event_id = ""
        #: The reconnection time the stream asked for (``retry:``, milliseconds), if any.
        self.retry: int | None = None
        #: Comment lines, in order, without the colon and one following space.
        self.comments: list[str] = []
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._started = False  # a leading BOM has been looked for
        self._skip_lf = False  # the last piece ended with CR: a LF that follows is the same break
        self._pending = ""  # an unterminated line
        self._data: list[str] = []
        self._event_type = ""
        self._id_buffer = ""

    def feed(self, data: bytes) -> list[ReceivedEvent]:
        """Parse the next piece of the stream; the events it dispatched, in order."""
        text = self._decoder.decode(data)
        if not text:
            return []
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")  # UTF-8 decode drops one leading BOM
        if self._skip_lf:
            self._skip_lf = False
            text = text.removeprefix("\n")
        buffer = self._pending + text
        dispatched: list[ReceivedEvent] = []
        start = 0
        while (found := _LINE_END.search(buffer, start)) is not None:
            end = found.start()
            line = buffer[start:end]
            start = end + 1
            if buffer[end] == "\r":
                if start == len(buffer):
                    self._skip_lf = True
                elif buffer[start] == "\n":
                    start += 1
            self._process_line(line, dispatched)
        self._pending = buffer[start:]
        return dispatched

    def _process_line(self, line: str, dispatched: list[ReceivedEvent]) -> None:
        if not line:
            self._dispatch(dispatched)
            return
        if line[0] == ":":
            self.comments.append(line[1:].removeprefix(" "))
            return
        name, colon, value = line.partition(":")
        if colon:
            value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\0" not in value:
                self._id_buffer = value
        elif name == "retry":
            if _DIGITS.fullmatch(value):
                self.retry = int(value)
        # Any other field is ignored.

    def _dispatch(self, dispatched: list[ReceivedEvent]) -> None:
        # The id is taken at every block's end, even one without data.
        self.last_event_id = self._id_buffer
        if self._data:
            dispatched.append(
                ReceivedEvent(self._event_type or "message", "\n".join(self._data), self._id_buffer)
            )
        self._data = []
        self._event_type = ""


def parse_events(data: bytes | str) -> list[ReceivedEvent]:
    """The events a whole stream dispatches (a last block without its blank line is not one)."""
    return EventParser().feed(data.encode() if isinstance(data, str) else data)
