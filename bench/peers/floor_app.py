"""The floor: a bare ASGI app that answers a stream at once, and nothing else.

200 ``text/event-stream`` and a ``retry:`` line, then held open until the client
goes. No framework, no auth, no subscription: what the server (Daphne or uvicorn)
costs to open a stream, the most any SSE app on it can reach. ``make bench``
measures its connect rate beside the others
(``daphne bench.peers.floor_app:app`` / ``uvicorn bench.peers.floor_app:app``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b"retry: 2000\n\n", "more_body": True})
    while (await receive())["type"] != "http.disconnect":
        pass
