"""Test your streams: read a ``text/event-stream`` answer the way a browser does.

::

    async with sse.testing.connect(async_client, "/sse/stream/?channel=orders.customer.1") as stream:
        assert stream.status_code == 200  # connect() returns once the stream is subscribed
        await sse.apublish("orders.customer.1", {"status": "shipped"}, event="order")
        event = await stream.next_event(timeout=5)
        assert event.event == "order" and event.json() == {"status": "shipped"}

:func:`connect` takes Django's :class:`django.test.AsyncClient` (pytest-django's
``async_client`` fixture, ``self.async_client`` of Django's test cases);
:class:`EventParser` and :func:`parse_events` implement the event-stream
interpretation of WHATWG HTML §9.2.6 for any bytes.

Streaming tests run outside a test transaction: ``@pytest.mark.django_db(transaction=True)``
under pytest-django, ``django.test.TransactionTestCase`` under ``manage.py test``.
docs/testing.md says why; :func:`connect` refuses to run inside ``TestCase``'s transaction.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import inspect
import json
import os
import re
import sys
import unittest
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

__all__ = ["EventParser", "EventStream", "ReceivedEvent", "connect", "parse_events"]

_LINE_END = re.compile(r"[\r\n]")
_DIGITS = re.compile(r"[0-9]+")

_PYTEST = (
    "mark the test @pytest.mark.django_db(transaction=True)",
    "marked @pytest.mark.django_db(transaction=True)",
)
_UNITTEST = (
    "make {name} a django.test.TransactionTestCase",
    "methods of a django.test.TransactionTestCase, not of a TestCase",
)


def _calling_test_case(frame: FrameType | None) -> unittest.TestCase | None:
    """The unittest test case whose method (a coroutine) called us, if one did."""
    while frame is not None:
        found = frame.f_locals.get("self")
        if isinstance(found, unittest.TestCase):
            return found
        frame = frame.f_back
    return None


def _the_fix(test_case: unittest.TestCase | None) -> str:
    """What makes a streaming test see its events, in the terms of the runner in use."""
    if test_case is not None:
        return _UNITTEST[0].format(name=type(test_case).__name__)
    if "PYTEST_CURRENT_TEST" in os.environ:
        return _PYTEST[0]
    # Neither a test case's method nor pytest: say both.
    return f"{_PYTEST[0]} (pytest-django), or {_UNITTEST[0].format(name='the test case')} (manage.py test)"


def _the_rule(test_case: unittest.TestCase | None) -> str:
    """The same, as a rule: true whether or not the test follows it."""
    if test_case is not None:
        return f"streaming tests are {_UNITTEST[1]}"
    if "PYTEST_CURRENT_TEST" in os.environ:
        return f"streaming tests are {_PYTEST[1]}"
    return f"streaming tests are {_PYTEST[1]} (pytest-django), or {_UNITTEST[1]} (manage.py test)"


def _testcase_transactions() -> list[str]:
    """The databases on which this thread is inside a test case's transaction (django.test.TestCase's,
    which pytest-django's plain ``django_db`` mark uses too)."""
    from django.db import connections
    from django.db.backends.base.base import BaseDatabaseWrapper

    found = list(connections.all(initialized_only=True))
    # With an event loop running on this thread (pytest-asyncio runs the test's there), asgiref
    # gives the coroutine connections of its own: the test's transaction is on the ones this
    # thread's sync code has, in the thread-local storage beside them (asgiref >= 3.8).
    try:
        storage = object.__getattribute__(connections._connections, "_storage")  # type: ignore[attr-defined]
        found += [c for c in vars(storage).values() if isinstance(c, BaseDatabaseWrapper)]
    except (AttributeError, TypeError):
        pass
    return sorted(
        {
            connection.alias
            for connection in found
            if any(getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)
        }
    )


async def _refuse_test_transactions(test_case: unittest.TestCase | None) -> None:
    from asgiref.sync import sync_to_async

    # The test's thread: this one under pytest-asyncio (the loop runs on the test's thread);
    # the one sync_to_async() goes back to under django.test's async_to_sync().
    inside = _testcase_transactions() or await sync_to_async(_testcase_transactions)()
    if not inside:
        return
    if test_case is not None:
        wrapper = f"django.test.TestCase (a base of {type(test_case).__name__})"
    elif "PYTEST_CURRENT_TEST" in os.environ:
        wrapper = "@pytest.mark.django_db"
    else:
        wrapper = "a django.test.TestCase"
    raise RuntimeError(
        f"sse.testing.connect() was called inside the transaction that {wrapper} wraps around "
        f"the test and rolls back at its end (database {', '.join(map(repr, inside))}). Nothing "
        "published in it goes out (sse.publish() sends when the transaction commits), and the "
        "hub reads the event log on threads of its own, whose connections do not see it (SQLite: "
        f"'database table is locked'). To test streams, {_the_fix(test_case)} "
        "(docs/testing.md)."
    )


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
        self._rule = _the_rule(None)  # connect() names the runner's
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


@contextlib.asynccontextmanager
async def connect(
    client: Any,
    path: str,
    *,
    last_event_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    **extra: Any,
) -> AsyncIterator[EventStream]:
    """``GET path`` with ``client`` (a :class:`django.test.AsyncClient`) and read it as a browser would.

    Not inside a test transaction (``django.test.TestCase``, pytest-django's plain
    ``django_db`` mark): a ``RuntimeError`` naming the fix for the runner in use.

    For a ``200 text/event-stream`` answer this returns once the first chunk
    has arrived: the stream is subscribed (and its replay planned), so an event
    published next reaches it. Any other answer is returned unread. On exit
    the stream is closed and its subscription dropped.

    ``last_event_id`` is sent as the ``Last-Event-ID`` header, as a browser
    does when it reconnects; ``extra`` goes to ``client.get`` as is.
    """
    from django.test import Client

    if isinstance(client, Client) or not inspect.iscoroutinefunction(getattr(client, "get", None)):
        raise TypeError(
            f"sse.testing.connect() needs django.test.AsyncClient (pytest-django's async_client "
            f"fixture), not {type(client).__name__}: streams are async iterators, which the sync "
            "test client cannot read."
        )
    test_case = _calling_test_case(sys._getframe(1))
    await _refuse_test_transactions(test_case)
    sent = {"Accept": "text/event-stream", **(headers or {})}
    if last_event_id is not None:
        sent["Last-Event-ID"] = last_event_id
    try:
        async with asyncio.timeout(timeout):
            response = await client.get(path, headers=sent, **extra)
    except TimeoutError:
        raise AssertionError(f"GET {path}: no answer within {timeout} s") from None
    stream = EventStream(response, path)
    stream._rule = _the_rule(test_case)
    await stream._start(timeout)
    try:
        yield stream
    finally:
        await stream._close()
