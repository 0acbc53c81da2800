"""EventStreamResponse: an async StreamingHttpResponse speaking text/event-stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from asgiref.sync import AsyncToSync
from django.http import StreamingHttpResponse

from sse.conf import conf
from sse.hub.channel_hub import ChannelHub
from sse.hub.heartbeats import Heartbeats
from sse.wire.encoding import Event, encode_opening

__all__ = ["EventStreamResponse"]

CONTENT_TYPE = "text/event-stream; charset=utf-8"

StreamItem = Event | bytes | str


def _to_bytes(item: StreamItem) -> bytes:
    if isinstance(item, Event):
        return item.encode()
    if isinstance(item, str):
        return item.encode()
    return item


class EventStreamResponse(StreamingHttpResponse):
    """Stream ``source`` (Events, or pre-encoded bytes) as server-sent events.

    The ``retry:`` block goes out at once (``opening=False``: the source writes
    its own first block); an idle stream gets a comment every ``heartbeat``
    seconds (None: ``SSE_HEARTBEAT_SECONDS``; 0: never, the source pings);
    ``on_close`` runs exactly once however the stream ends.

    The heartbeats come from the hub's one timer (:meth:`Heartbeats.beating`), not a
    timer of the stream's own: a beat is aligned to the timer's tick, so it may come up to
    ``min(1 s, interval / 4)`` after the interval.
    """

    def __init__(
        self,
        source: AsyncIterable[StreamItem] | None = None,
        *,
        retry_ms: int | None = None,
        heartbeat: float | None = None,
        opening: bool = True,
        on_close: Callable[[], None] | None = None,
        status: int = 200,
        **kwargs: Any,
    ) -> None:
        self._on_close = on_close
        self._closed_once = False
        retry = conf.SSE_RETRY_MS if retry_ms is None else retry_ms
        interval = conf.SSE_HEARTBEAT_SECONDS if heartbeat is None else heartbeat
        super().__init__(
            self._stream(encode_opening(retry) if opening else b"", source, interval),
            content_type=CONTENT_TYPE,
            status=status,
            **kwargs,
        )
        self["Cache-Control"] = "no-cache"
        self["X-Accel-Buffering"] = "no"

    async def _stream(
        self, opening: bytes, source: AsyncIterable[StreamItem] | None, heartbeat: float
    ) -> AsyncIterator[bytes]:
        try:
            if opening:
                yield opening
            if source is None:
                return
            if heartbeat <= 0:
                async for item in source:
                    yield _to_bytes(item)
            else:
                async with aclosing(_beating(source, heartbeat)) as chunks:
                    async for chunk in chunks:
                        yield chunk
        finally:
            self._run_on_close()

    def _run_on_close(self) -> None:
        if self._closed_once:
            return
        self._closed_once = True
        if self._on_close is not None:
            self._on_close()

    def close(self) -> None:
        # Django may never finish the generator (a cancel during send()); this always runs.
        try:
            super().close()
        finally:
            self._run_on_close()


async def _beating(source: AsyncIterable[StreamItem], interval: float) -> AsyncGenerator[bytes, None]:
    """``source``'s items as bytes, with a heartbeat whenever it was idle ``interval`` seconds."""
    timer, own = _timer()
    try:
        async with aclosing(timer.beating(source, interval)) as items:
            async for item in items:
                yield _to_bytes(item)
    finally:
        if own and timer.task is not None:
            timer.task.cancel()  # a timer of the stream's own ends with it


def _timer() -> tuple[Heartbeats, bool]:
    """The timer of the hub serving this loop's streams (created with the hub if none yet).

    On a loop that is not the server's (``async_to_sync``'s, as WSGI or the sync test client
    consume an async body), or beside a hub that is shutting down, a timer of this stream's
    own (then True): ``ChannelHub.current()`` there would replace the process's hub.
    """
    loop = asyncio.get_running_loop()
    hub = ChannelHub.running()
    if hub is None and loop not in AsyncToSync.loop_thread_executors:
        hub = ChannelHub.current()
    if hub is not None and hub.loop is loop and not hub.stopping:
        return hub.heartbeats, False
    return Heartbeats(loop, ()), True
