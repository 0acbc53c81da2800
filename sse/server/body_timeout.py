"""A request body that does not arrive in time is answered ``408`` and its connection closed.

An ASGI server calls the application once a request's headers are in; the body comes after,
through ``receive()``, as fast as the client sends it. A client that sends it a byte every
few seconds holds a connection (and Django's handler, waiting in ``read_body``) for as long
as it likes, and a few hundred such clients hold a server's connections. No server but
granian bounds the time a body may take, so the application does: :class:`BodyDeadline`
wraps ``receive`` and gives the body ``SSE_BODY_TIMEOUT_SECONDS`` from the moment the
application is called, plus one second for every ``SSE_BODY_MIN_BYTES_PER_SECOND`` bytes
received (a large upload over a slow but honest link keeps earning time; a client that
keeps up less than that rate is cut after ``timeout / (1 - rate / min_rate)`` seconds).

Past the deadline the client gets ``408`` with ``Connection: close`` and a line of text, and
the handler a ``http.disconnect``: Django's ``read_body`` raises ``RequestAborted`` and the
request ends there, before any middleware or view saw it. Once the body is complete (at once
for a ``GET``) ``receive`` is the server's own again: a stream's wait for the client to go
is not bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sse.conf import conf

__all__ = ["TIMED_OUT_BODY", "BodyDeadline", "bounded_receive"]

Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]

TIMED_OUT_BODY = b"Request Timeout: the request body did not arrive in time.\n"
_DISCONNECT: Mapping[str, Any] = {"type": "http.disconnect"}


class BodyDeadline:
    """``receive`` with a deadline for the request body (``408`` past it)."""

    __slots__ = ("_deadline", "_loop", "_per_byte", "_receive", "_send", "complete", "timed_out")

    def __init__(self, receive: Receive, send: Send, timeout: float, min_bytes_per_second: int) -> None:
        self._receive, self._send = receive, send
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time() + timeout
        self._per_byte = 1.0 / min_bytes_per_second if min_bytes_per_second else 0.0
        self.complete = False
        self.timed_out = False

    async def __call__(self) -> Mapping[str, Any]:
        if self.complete:
            return await self._receive()
        if self.timed_out:
            return _DISCONNECT
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            self.timed_out = True
            await self._answer_408()
            return _DISCONNECT
        if message.get("type") != "http.request" or not message.get("more_body", False):
            self.complete = True
        else:
            self._deadline += len(message.get("body", b"")) * self._per_byte
        return message

    async def _answer_408(self) -> None:
        await self._send(
            {
                "type": "http.response.start",
                "status": 408,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(TIMED_OUT_BODY)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await self._send({"type": "http.response.body", "body": TIMED_OUT_BODY})


def bounded_receive(scope: Mapping[str, Any], receive: Receive, send: Send) -> Receive:
    """``receive`` bounded by ``SSE_BODY_TIMEOUT_SECONDS`` for an HTTP request (0: as it is)."""
    timeout = conf.SSE_BODY_TIMEOUT_SECONDS
    if scope.get("type") != "http" or timeout <= 0:
        return receive
    return BodyDeadline(receive, send, timeout, conf.SSE_BODY_MIN_BYTES_PER_SECOND)
