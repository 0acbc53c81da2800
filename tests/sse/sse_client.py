"""Reading text/event-stream in tests: a WHATWG-faithful parser and a stream reader."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass
class Received:
    """One dispatched event as a browser sees it."""

    event: str
    data: str
    id: str

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class Parsed:
    events: list[Received] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry: int | None = None
    last_event_id: str = ""


def parse(text: str, state: Parsed | None = None) -> Parsed:
    """The event-stream interpretation algorithm of WHATWG HTML §9.2.6, for whole blocks.

    A trailing line without its line break is not processed (as a browser waits for it).
    """
    out = state or Parsed()
    data: list[str] = []
    event_type = ""
    lines = _LINE_BREAK.split(text)
    for line in lines[:-1]:
        if line == "":
            if data:
                out.events.append(Received(event_type or "message", "\n".join(data), out.last_event_id))
            data, event_type = [], ""
            continue
        if line.startswith(":"):
            out.comments.append(line[1:].removeprefix(" "))
            continue
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event_type = value
        elif name == "id":
            if "\0" not in value:
                out.last_event_id = value
        elif name == "retry":
            if value and all(c in "0123456789" for c in value):
                out.retry = int(value)
    return out


class StreamReader:
    """Incremental reading of a streaming httpx response, with a deadline per wait."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.chunks = response.iter_raw()
        self.raw = b""
        self._pending = b""
        self.state = Parsed()
        self._seen = 0

    def _pull(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"stream gave nothing more in time; so far: {self.raw[-500:]!r}")
        chunk = next(self.chunks)  # httpx's read timeout bounds this wait
        self.raw += chunk
        self._pending += chunk
        # Only whole blocks (ending in a blank line) are dispatched.
        end = self._pending.rfind(b"\n\n")
        if end >= 0:
            parse(self._pending[: end + 2].decode(), self.state)
            self._pending = self._pending[end + 2 :]

    def read_bytes(self, n: int, timeout: float = 30.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.raw) < n:
            self._pull(deadline)
        return self.raw[:n]

    def events(self, count: int, timeout: float = 30.0) -> list[Received]:
        """The next ``count`` events not returned before."""
        deadline = time.monotonic() + timeout
        while len(self.state.events) < self._seen + count:
            self._pull(deadline)
        got = self.state.events[self._seen : self._seen + count]
        self._seen += count
        return got

    def comments(self, count: int, timeout: float = 30.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(self.state.comments) < count:
            self._pull(deadline)
        return self.state.comments[:count]
