"""EventStreamResponse: an async StreamingHttpResponse speaking text/event-stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any

from django.http import StreamingHttpResponse

from sse.conf import conf
from sse.encoding import Event, encode_comment, encode_retry

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

    The ``retry:`` line goes out at once (``opening=False``: the source sends
    it, first, built with :func:`opening_block`); an idle stream gets a comment
    every ``heartbeat`` seconds (None: the source sends its own); ``on_close``
    callbacks run exactly once however the stream ends.
    """

    def __init__(
        self,
        source: AsyncIterable[StreamItem] | None = None,
        *,
        retry_ms: int | None = None,
        heartbeat: float | None = -1.0,
        first: bytes = b"",
        opening: bool = True,
        on_close: Callable[[], None] | None = None,
        status: int = 200,
        **kwargs: Any,
    ) -> None:
        self._on_close = on_close
        self._closed_once = False
        retry = conf.SSE_RETRY_MS if retry_ms is None else retry_ms
        interval = conf.SSE_HEARTBEAT_SECONDS if heartbeat == -1.0 else heartbeat
        super().__init__(
            self._stream(opening_block(retry, first) if opening else b"", source, interval),
            content_type=CONTENT_TYPE,
            status=status,
            **kwargs,
        )
        self["Cache-Control"] = "no-cache"
        self["X-Accel-Buffering"] = "no"

    async def _stream(
        self, opening: bytes, source: AsyncIterable[StreamItem] | None, heartbeat: float | None
    ) -> AsyncIterator[bytes]:
        try:
            if opening:
                yield opening
            if source is None:
                return
            if heartbeat is None or heartbeat <= 0:
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


def opening_block(retry_ms: int, fields: bytes = b"") -> bytes:
    """One block: ``retry:`` plus optional fields (an initial ``id:``, a comment), then the blank line."""
    return encode_retry(retry_ms)[:-1] + fields + b"\n"


async def _with_heartbeat(source: AsyncIterable[StreamItem], interval: float) -> AsyncIterator[bytes]:
    iterator = aiter(source)
    ping = encode_comment("ping")
    pending: asyncio.Task[StreamItem] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=interval)
            if not done:
                yield ping
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
