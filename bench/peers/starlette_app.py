"""sse-starlette on uvicorn: one asyncio.Queue per stream, fan-out over a set of queues.

``uvicorn bench.peers.starlette_app:app`` (run from .venv-bench).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

queues: set[asyncio.Queue[ServerSentEvent]] = set()


async def stream(request: Request) -> EventSourceResponse:
    queue: asyncio.Queue[ServerSentEvent] = asyncio.Queue()
    # Subscribed before the answer starts, so "headers received" means "will get broadcasts".
    queues.add(queue)

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            yield ServerSentEvent(comment="open")
            while True:
                yield await queue.get()
        finally:
            queues.discard(queue)

    return EventSourceResponse(events())


def _fan_out(event: str | None, data: Any) -> None:
    # Encoded once; each stream's ServerSentEvent is then formatted by sse-starlette.
    text = json.dumps(data, separators=(",", ":"))
    for queue in queues:
        queue.put_nowait(ServerSentEvent(data=text, event=event))


async def publish(request: Request) -> JSONResponse:
    body = await request.json()
    _fan_out(body.get("event"), body["data"])
    return JSONResponse({"streams": len(queues)}, status_code=201)


async def burst(request: Request) -> JSONResponse:
    start, count = int(request.query_params["start"]), int(request.query_params["n"])
    for number in range(start, start + count):
        _fan_out("bench", {"b": number})
    return JSONResponse({"sent": count}, status_code=201)


app = Starlette(
    routes=[
        Route("/stream/", stream),
        Route("/publish/", publish, methods=["POST"]),
        Route("/burst/", burst, methods=["POST"]),
    ]
)
