"""The application as ``python -m sse.daphne`` runs it: each HTTP request counted while it
runs (``sse.server.shutdown.responding``) and given one access-log line when it ends, tokens
redacted from every path Daphne logs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from sse.server import shutdown
from sse.server.access_log import CLIENT_GONE, COMPLETE, CUT_OFF, ERROR, SERVER_SHUTDOWN
from sse.server.backpressure import SendCutOff
from sse.server.redaction import redact

__all__ = ["RedactingLogger", "Served", "WithoutHttpLines"]

logger = logging.getLogger("sse.daphne")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _shutting_down() -> bool:
    """Whether this process's hub is ending its streams for a shutdown (sse.server.shutdown)."""
    from sse.hub.channel_hub import ChannelHub

    hub = ChannelHub.running()
    return hub is not None and hub.stopping


class RedactingLogger:
    """Daphne's action logger, with tokens redacted from every path it is given."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __call__(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        if "path" in details:
            details = {**details, "path": redact(str(details["path"]))}
        self._inner(protocol, action, details)


class WithoutHttpLines:
    """Daphne's own action lines minus its HTTP "complete" one: ``Served`` writes those."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __call__(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        if protocol == "http" and action == "complete":
            return
        self._inner(protocol, action, details)


class _Line:
    """One request's ``send`` as the application sees it, noting what its log line says.

    A bound method of one small object, not a closure, and ``receive`` is passed through
    untouched: an open stream keeps all this its life (a wrapper awaiting ``receive`` would
    add a suspended coroutine to every stream).
    """

    __slots__ = ("_send", "bytes", "complete", "cut_off", "started", "status")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = time.monotonic()
        self.status: int | None = None
        self.bytes = 0
        self.complete = False
        self.cut_off = False

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "http.response.start":
            self.status = message.get("status")
        try:
            await self._send(message)
        except SendCutOff:
            self.cut_off = True
            raise
        if kind == "http.response.body":
            self.bytes += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True


def _request_path(scope: Scope) -> str:
    raw = scope.get("raw_path") or scope.get("path", "").encode("utf-8")
    query = scope.get("query_string") or b""
    uri = raw + b"?" + query if query else raw
    try:
        return str(uri.decode("ascii"))
    except UnicodeDecodeError:
        return repr(uri)  # as Daphne logs a malformed path


class Served:
    """The application, with each HTTP request counted while it runs and logged when it ends.

    Counted (``sse.server.shutdown.responding``): on SIGTERM/SIGINT, ``sse.server.shutdown`` waits up to
    ``SSE_SHUTDOWN_GRACE_SECONDS`` for them as for the streams before Daphne's own shutdown
    cancels whatever is left. Logged, with an access log: Daphne writes a line only when
    the application ends a body, so a stream whose client went away, or that the server
    cut off, would have none; here every request gets one, with its duration, the body
    bytes and why it ended, from what the application sends and receives.
    """

    def __init__(self, application: ASGIApp, log: Callable[[str, str, dict[str, Any]], None] | None) -> None:
        self.application = application
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.application(scope, receive, send)
            return
        line = _Line(send) if self.log is not None else None
        ended = ERROR
        shutdown.responding_now(1)
        try:
            if line is None:
                await self.application(scope, receive, send)
                return
            await self.application(scope, receive, line.send)
            # Returned without ending the body: its client went (Django's handler stops
            # the response on http.disconnect).
            ended = COMPLETE if line.complete else CLIENT_GONE
        except asyncio.CancelledError:
            # Daphne cancels what is left when it stops (sse.server.shutdown has ended the streams
            # by then), and an application that outlives its client by application_close_timeout.
            ended = SERVER_SHUTDOWN if _shutting_down() else CLIENT_GONE
            raise
        finally:
            shutdown.responding_now(-1)
            if line is not None:
                if line.cut_off:
                    ended = CUT_OFF
                elif ended == COMPLETE and _shutting_down():
                    ended = (
                        SERVER_SHUTDOWN  # ended by sse.server.shutdown, before Daphne's own shutdown began
                    )
                self._write(scope, line, ended)

    def _write(self, scope: Scope, line: _Line, ended: str) -> None:
        client = scope.get("client")
        status = line.status
        if status is None and ended == ERROR:
            status = 500  # Daphne answers an application that failed before it started a response
        try:
            assert self.log is not None
            self.log(
                "http",
                "complete",
                {
                    "path": _request_path(scope),
                    "status": status,
                    "method": scope.get("method", "-"),
                    "client": f"{client[0]}:{client[1]}" if client else None,
                    "time_taken": time.monotonic() - line.started,
                    "size": line.bytes,
                    "ended": ended,
                },
            )
        except Exception:
            logger.exception("access log line failed")
