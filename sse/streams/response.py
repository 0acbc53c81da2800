"""EventStreamResponse: an async StreamingHttpResponse speaking text/event-stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any

from django.http import StreamingHttpResponse

from sse.conf import conf
from sse.wire.encoding import HEARTBEAT, Event, encode_opening

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
                async for chunk in _with_heartbeat(source, heartbeat):
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


async def _with_heartbeat(source: AsyncIterable[StreamItem], interval: float) -> AsyncIterator[bytes]:
    iterator = aiter(source)
    pending: asyncio.Task[StreamItem] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=interval)
            if not done:
                yield HEARTBEAT
                continue
            task, pending = pending, None
            try:
                item = task.result()
            except StopAsyncIteration:
                return
            yield _to_bytes(item)
    finally:
        if pending is not None:
            pending.cancel()
