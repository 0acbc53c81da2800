"""``EventStream``: the answer ``connect()`` got, read in the background as a browser reads it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from sse.testing.parser import EventParser, ReceivedEvent
from sse.testing.transactions import the_rule

__all__ = ["EventStream"]


def _close_response(response: Any) -> None:
    # As Django's test client does: request_finished must not close the test's connections.
    from django.core.signals import request_finished
    from django.db import close_old_connections

    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


class EventStream:
    """The answer :func:`connect` got, and for a stream, what it has sent so far.

    A ``200 text/event-stream`` answer is read in the background from before
    :func:`connect` returns until the ``async with`` block ends; any other
    answer is left as it came.
    """

    def __init__(self, response: Any, path: str) -> None:
        #: The Django response.
        self.response = response
        #: The path asked for.
        self.path = path
        self._parser = EventParser()
        self._received: list[ReceivedEvent] = []
        self._taken = 0
        self._raw = bytearray()
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._error: Exception | None = None
        self._ended = True  # the server ended the body
        self._closed = False  # connect() is done with it
        self._rule = the_rule(None)  # connect() names the runner's
        self._content_type = str(response.get("Content-Type", ""))
        media_type = self._content_type.split(";")[0].strip().lower()
        self._is_stream = response.status_code == 200 and media_type == "text/event-stream"
        if not response.streaming:
            self._raw += response.content
            if self._is_stream:
                self._received.extend(self._parser.feed(bytes(self._raw)))

    # -- the answer -----------------------------------------------------------

    @property
    def status_code(self) -> int:
        return int(self.response.status_code)

    @property
    def headers(self) -> Mapping[str, str]:
        headers: Mapping[str, str] = self.response.headers
        return headers

    @property
    def text(self) -> str:
        """The body received so far, decoded; a streaming answer that is not an event stream is not read."""
        charset = getattr(self.response, "charset", None) or "utf-8"
        return bytes(self._raw).decode(charset, errors="replace")

    # -- what the stream said -------------------------------------------------

    @property
    def last_event_id(self) -> str:
        """The last event id the stream set: give it to :func:`connect` to resume."""
        return self._parser.last_event_id

    @property
    def retry(self) -> int | None:
        """The reconnection time (ms) the stream asked for, if it did."""
        return self._parser.retry

    @property
    def comments(self) -> list[str]:
        """Comment lines received (heartbeats, notes), without the colon and one space."""
        return list(self._parser.comments)

    @property
    def received(self) -> list[ReceivedEvent]:
        """Every event dispatched so far, returned by :meth:`next_event` or not."""
        return list(self._received)

    @property
    def ended(self) -> bool:
        """The server ended the body (true of an answer that is not a stream)."""
        return self._ended

    # -- waiting --------------------------------------------------------------

    async def next_event(self, timeout: float = 5) -> ReceivedEvent:
        """The next event not returned before; an AssertionError if none comes within ``timeout`` s."""
        self._check_stream("no event can come")
        if not await self._wait_for(lambda: len(self._received) > self._taken, timeout):
            raise AssertionError(self._nothing_came(f"no event within {timeout} s"))
        event = self._received[self._taken]
        self._taken += 1
        return event

    async def events(self, n: int, timeout: float = 5) -> list[ReceivedEvent]:
        """The next ``n`` events not returned before, all within ``timeout`` s."""
        self._check_stream("no event can come")
        if not await self._wait_for(lambda: len(self._received) >= self._taken + n, timeout):
            got = len(self._received) - self._taken
            raise AssertionError(self._nothing_came(f"{got} of {n} events within {timeout} s"))
        taken = self._received[self._taken : self._taken + n]
        self._taken += n
        return taken

    async def assert_no_event(self, within: float = 0.5) -> None:
        """Fail if an event not returned before is there or is dispatched within ``within`` s."""
        self._check_stream("asserting that no event arrives proves nothing")
        if await self._wait_for(lambda: len(self._received) > self._taken, within):
            unexpected = self._received[self._taken :]
            raise AssertionError(f"{self.path}: expected no event, got {len(unexpected)}: {unexpected!r}")

    async def wait_ended(self, timeout: float = 5) -> None:
        """Return once the server has ended the stream; an AssertionError if not within ``timeout`` s."""
        if not await self._wait_for(lambda: self._ended, timeout):
            raise AssertionError(f"{self.path}: the server had not ended the stream after {timeout} s")

    # -- internals --------------------------------------------------------------

    async def _start(self, timeout: float) -> None:
        """Read the body in a task; return once its first chunk (or its end) came."""
        if not self._is_stream or not self.response.streaming:
            return
        if not self.response.is_async:
            _close_response(self.response)
            raise TypeError(
                f"{self.path} streams a synchronous iterator: under ASGI Django buffers it whole, "
                "so it cannot stream events. Give StreamingHttpResponse an async iterator."
            )
        self._ended = False
        self._reader = asyncio.create_task(self._read(aiter(self.response.streaming_content)))
        await self._wait_for(lambda: bool(self._raw), timeout, check=False)
        if self._error is not None and not self._raw:
            raise self._error
        if not self._raw and not self._ended:
            await self._close()
            raise AssertionError(f"{self.path}: the stream sent nothing within {timeout} s")

    async def _read(self, chunks: AsyncIterator[bytes]) -> None:
        try:
            async for chunk in chunks:
                self._raw += chunk
                self._received.extend(self._parser.feed(chunk))
                self._changed.set()
            self._ended = True
        except Exception as exc:
            self._error = exc
        finally:
            self._changed.set()

    async def _wait_for(self, done: Callable[[], bool], timeout: float, *, check: bool = True) -> bool:
        """Wait until ``done()``, the body stops, or ``timeout``; ``done()`` then."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not done() and self._reader is not None and not self._reader.done():
                    self._changed.clear()
                    await self._changed.wait()
        if check and self._error is not None and not done():
            raise AssertionError(f"{self.path}: reading the stream failed: {self._error!r}") from self._error
        return done()

    def _check_stream(self, consequence: str) -> None:
        if not self._is_stream:
            raise AssertionError(
                f"{self.path} answered {self.status_code} {self._content_type or '(no Content-Type)'}, "
                f"not 200 text/event-stream, so {consequence}; its body: {self.text[:500]!r}"
            )

    def _nothing_came(self, what: str) -> str:
        if self._closed:
            state = "the stream was closed (the async with block of connect() had ended)"
        elif self._ended:
            state = "the server ended the stream"
        else:
            state = "the stream is still open"
        recent = self._received[-5:]
        lines = [
            f"{self.path}: {what}; {state}.",
            f"{len(self._received)} events received in all, {self._taken} returned before"
            + (f"; the last: {recent!r}" if recent else ""),
            f"last event id {self.last_event_id!r}, {len(self._parser.comments)} comments, "
            f"the last bytes: {bytes(self._raw[-300:])!r}",
        ]
        if not self._ended and not self._closed:
            lines.append(
                "If the test published the event: sse.publish() sends it when the transaction "
                "it is in commits (inside transaction.atomic(), once the block ends), and "
                f"{self._rule} (docs/testing.md)."
            )
        return "\n".join(lines)

    async def _close(self) -> None:
        self._closed = True
        reader, self._reader = self._reader, None
        if reader is not None:
            if not reader.done():
                # The CancelledError ends the body's generators, and their cleanup closes
                # the response: the hub drops the subscription.
                reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        elif self.response.streaming:
            _close_response(self.response)  # never read: close it as a server would
        else:
            return
        # The hub drops the subscription in a loop callback: give it a turn to run.
        await asyncio.sleep(0)
