"""Reading server-sent events in tests: open a stream, wait for its first bytes, read events."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from sse.testing import EventParser
from tests.servers import manage


class EventReader:
    """Events of one open stream, parsed by sse.testing's parser (comments skipped)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._chunks = response.iter_raw()
        self._parser = EventParser()
        # The stream writes its opening block (retry: and id:) once the hub has subscribed it:
        # its first bytes mean the stream is subscribed.
        self._pending = self._parser.feed(next(self._chunks))

    def next(self, timeout: float = 20.0) -> dict[str, Any]:
        """The next event with data: {"event", "id", "data" (parsed JSON)}."""
        deadline = time.monotonic() + timeout
        while not self._pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no event within {timeout}s")
            chunk = next(self._chunks, None)  # heartbeats (1 s on the test sites) bound this wait
            if chunk is None:
                raise TimeoutError(f"no event within {timeout}s: the stream ended")
            self._pending = self._parser.feed(chunk)
        event = self._pending.pop(0)
        return {"event": event.event, "id": event.id, "data": event.json()}

    def until(self, predicate: Any, timeout: float = 30.0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Read until an event matches; return it and every event read before it."""
        deadline = time.monotonic() + timeout
        seen: list[dict[str, Any]] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching event within {timeout}s; saw {seen}")
            event = self.next(remaining)
            if predicate(event):
                return event, seen
            seen.append(event)


@contextmanager
def open_events(client: httpx.Client, url: str, **kwargs: Any) -> Iterator[EventReader]:
    # Heartbeats every second (the site sets SSE_HEARTBEAT_SECONDS=1) keep reads from hanging.
    with client.stream("GET", url, timeout=httpx.Timeout(30.0), **kwargs) as response:
        assert response.status_code == 200, response.read()
        yield EventReader(response)


def shell(env: dict[str, str], code: str) -> str:
    """Run Python in ``manage.py shell`` against the site's database; return its output."""
    return manage(env, "shell", "-v", "0", "-c", code).stdout


def pk_of(env: dict[str, str], username: str) -> str:
    code = "from django.contrib.auth.models import User\n"
    code += f"print(User.objects.get(username={username!r}).pk)"
    return shell(env, code).strip()
