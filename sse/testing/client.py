"""``connect()``: GET a stream with Django's async test client and read it as a browser would."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
from collections.abc import AsyncIterator, Mapping
from typing import Any

from sse.testing.stream import EventStream
from sse.testing.transactions import calling_test_case, refuse_test_transactions, the_rule

__all__ = ["connect"]


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
    _need_async_client(client)
    test_case = calling_test_case(sys._getframe(1))
    await refuse_test_transactions(test_case)
    response = await _get(client, path, last_event_id, headers, timeout, extra)
    stream = EventStream(response, path)
    stream._rule = the_rule(test_case)
    await stream._start(timeout)
    try:
        yield stream
    finally:
        await stream._close()


def _need_async_client(client: Any) -> None:
    from django.test import Client

    if isinstance(client, Client) or not inspect.iscoroutinefunction(getattr(client, "get", None)):
        raise TypeError(
            f"sse.testing.connect() needs django.test.AsyncClient (pytest-django's async_client "
            f"fixture), not {type(client).__name__}: streams are async iterators, which the sync "
            "test client cannot read."
        )


async def _get(
    client: Any,
    path: str,
    last_event_id: str | None,
    headers: Mapping[str, str] | None,
    timeout: float,
    extra: dict[str, Any],
) -> Any:
    """The answer to ``GET path`` as a browser's EventSource asks for it."""
    sent = {"Accept": "text/event-stream", **(headers or {})}
    if last_event_id is not None:
        sent["Last-Event-ID"] = last_event_id
    try:
        async with asyncio.timeout(timeout):
            return await client.get(path, headers=sent, **extra)
    except TimeoutError:
        raise AssertionError(f"GET {path}: no answer within {timeout} s") from None
