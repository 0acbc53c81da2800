"""Reading text/event-stream over a real socket in tests: a stream reader on sse.testing's parser."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import httpx

from sse.testing import EventParser, ReceivedEvent

# The name the tests import for one dispatched event.
Received = ReceivedEvent


@dataclass
class Parsed:
    """What a stream has given so far: its parser, and the events it dispatched."""

    parser: EventParser = field(default_factory=EventParser)
    events: list[ReceivedEvent] = field(default_factory=list)

    def feed(self, chunk: bytes) -> None:
        self.events.extend(self.parser.feed(chunk))

    @property
    def comments(self) -> list[str]:
        return self.parser.comments


class StreamReader:
    """Incremental reading of a streaming httpx response, with a deadline per wait."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.chunks = response.iter_raw()
        self.raw = b""
        self.state = Parsed()
        self._seen = 0

    def _pull(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"stream gave nothing more in time; so far: {self.raw[-500:]!r}")
        chunk = next(self.chunks)  # httpx's read timeout bounds this wait
        self.raw += chunk
        self.state.feed(chunk)

    def read_bytes(self, n: int, timeout: float = 30.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.raw) < n:
            self._pull(deadline)
        return self.raw[:n]

    def events(self, count: int, timeout: float = 30.0) -> list[ReceivedEvent]:
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


def plain_id(event_id: str) -> str:
    """An event id without its checks (``k3f9x-abc:4_0a1z.2_zz00`` -> ``k3f9x-abc:4.2``):
    the positions, for tests that know the seqs but not the checks the log drew."""
    return re.sub(r"_[0-9a-z]{4}", "", event_id)


def position_of(event_id: str) -> str:
    """The position a single-channel id stands at, check included (``...:4_0a1z`` -> ``4_0a1z``)."""
    return event_id.rpartition(":")[2]
