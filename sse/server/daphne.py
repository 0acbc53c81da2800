"""``python -m sse.daphne``: Daphne, with what a development server and a stream need.

``python -m sse.daphne project.asgi:application -b 127.0.0.1 -p 8000`` takes
Daphne's own arguments. What streams need from their server lives in the
application and the hub, so every ASGI server has it (plain ``daphne``
included): a clean end of every stream on SIGTERM/SIGINT with a spread
``retry:`` (``sse.server.shutdown``), the garbage-collector tuning (``sse.hub.channel_hub``),
tokens kept out of the access loggers of uvicorn, gunicorn and runserver
(``sse.server.redaction``). This adds, through Daphne's constructor arguments,
twisted.web's public producer interface and one Daphne method (``send()`` is
``Server.handle_reply``: the only way to the twisted.web request of a response):

- Django's system checks at start-up, as ``manage.py runserver`` runs them:
  printed, and the server refuses to start on an error;
- back-pressure: Daphne's ``send()`` returns at once and Twisted buffers
  whatever a client does not read, without limit. Here ``send()`` waits while
  the connection's send buffer is full (a push producer registered on the
  twisted.web request, which Twisted pauses and resumes), so a stream that
  falls behind fills its own bounded queue in the hub and is closed (its
  client resumes from the log); a client that reads nothing for
  ``SSE_SEND_TIMEOUT_SECONDS`` is cut off;
- an access log that never shows stream tokens (Daphne writes its own lines to
  a file, out of reach of a logging filter), with one line per HTTP request
  when it ends, streams whose client went away included (``sse.server.access_log``);
- a listen backlog of ``SSE_LISTEN_BACKLOG`` (2048) instead of Twisted's 50,
  so a reconnect storm waits to be accepted rather than being dropped;
- on SIGTERM/SIGINT, the wait ``sse.server.shutdown`` gives the streams covers the
  other responses in flight too (Daphne cancels whatever is left once its own
  shutdown begins; uvicorn, hypercorn and granian wait for them);
- static files under ``DEBUG``, as ``manage.py runserver`` serves them (when
  ``django.contrib.staticfiles`` is installed), so ``{% static 'sse/sse.js' %}``
  loads during development; a path that leaves the static folders
  (``/static/../settings.py``) is a 404, not a 500 with a traceback
  (``sse.server.staticfiles``);
- lighter streams: each request's ASGI input queue is a few hundred bytes
  instead of Daphne's ``asyncio.Queue`` (over 3 KB, kept for a stream's life),
  Daphne's ``create_application`` with that one change.
"""

# What this module relies on of Daphne and Twisted (tests/sse/test_upstream.py has a test for
# each, naming it and the installed version; pyproject.toml caps Daphne below its first
# untested release):
#
# - Daphne: CommandLineInterface.server_class, built by CommandLineInterface.run with the
#   constructor's keyword arguments (application, endpoints, action_logger: an
#   AccessLogGenerator whose .stream is the --access-log file) and then run(); Server.run;
#   Server.handle_reply(protocol, message), which is the application's send(), with protocol
#   the twisted.web Request of the response (http.response.* messages); for the lighter
#   queue, Server.create_application (copied in _Server, so it must still match Daphne's),
#   Server.connections, and the protocols using only put_nowait on the input queue.
#   Daphne's own HTTP "complete" action line is dropped (sse writes one per request).
# - Twisted, public interfaces only: twisted.web.http.Request as an IConsumer
#   (registerProducer/unregisterProducer with an IPushProducer, paused on each write past the
#   transport's buffer size and stopped when the connection is lost), Request.finished,
#   Request.channel and its transport's abortConnection() (ITCPTransport).

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from functools import partial
from typing import Any

from daphne.access import AccessLogGenerator
from daphne.cli import CommandLineInterface
from daphne.server import Server
from django.core.exceptions import RequestAborted
from twisted.internet.interfaces import IPushProducer
from twisted.web import http
from zope.interface import implementer

from sse.server import shutdown
from sse.server.access_log import CLIENT_GONE, COMPLETE, CUT_OFF, ERROR, SERVER_SHUTDOWN, AccessLog
from sse.server.redaction import redact

logger = logging.getLogger("sse.daphne")

__all__ = ["SendCutOff", "main", "redact", "run_checks", "with_backlog"]

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


class _RedactingLogger:
    """Daphne's action logger, with tokens redacted from every path it is given."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __call__(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        if "path" in details:
            details = {**details, "path": redact(str(details["path"]))}
        self._inner(protocol, action, details)


class _WithoutHttpLines:
    """Daphne's own action lines minus its HTTP "complete" one: ``_Served`` writes those."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __call__(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        if protocol == "http" and action == "complete":
            return
        self._inner(protocol, action, details)


class SendCutOff(RequestAborted):
    """Raised by ``send()`` when the client read nothing for ``SSE_SEND_TIMEOUT_SECONDS``.

    The connection is aborted first. A ``RequestAborted``, so Django's handler ends the
    response as it does for a client that went away. This comes before ``sse.server.asgi``'s own
    cut of the same length (its watch cuts one to two intervals late, by design), so the
    access-log line says ``cut-off``; should that one come first, its cancellation of the
    waiting send aborts the connection all the same.
    """


@implementer(IPushProducer)
class _FlowControl:
    """Registered on a response: Twisted pauses it while the connection's send buffer is full.

    Twisted calls ``pauseProducing`` on every write made while the buffer is over its
    limit, so a producer registered while the buffer is already full learns it at the
    next write; ``stopProducing`` (the connection is gone) releases a waiting send.
    """

    __slots__ = ("_resumed", "paused")

    def __init__(self) -> None:
        self.paused = False
        self._resumed: asyncio.Future[None] | None = None

    async def writable(self, timeout: float) -> bool:
        """Wait until the client reads again; False after ``timeout`` seconds."""
        if not self.paused:
            return True
        if self._resumed is None:
            self._resumed = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._resumed), timeout)
        except TimeoutError:
            return False
        return True

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        resumed, self._resumed = self._resumed, None
        if resumed is not None and not resumed.done():
            resumed.set_result(None)

    stopProducing = resumeProducing


class _InputQueue:
    """The request's ASGI input queue: what Daphne uses of ``asyncio.Queue``.

    An ``asyncio.Queue`` is four deques and an ``Event``, over 3 KB; an open
    stream keeps its queue for its whole life and receives one message in it
    (``http.disconnect``). Truthy, like the queue it replaces (Daphne tests it).
    """

    __slots__ = ("_getters", "_items")

    def __init__(self) -> None:
        self._items: list[dict[str, Any]] = []
        self._getters: list[asyncio.Future[None]] = []

    def put_nowait(self, item: dict[str, Any]) -> None:
        self._items.append(item)
        getters, self._getters = self._getters, []
        for getter in getters:
            if not getter.done():
                getter.set_result(None)

    async def get(self) -> dict[str, Any]:
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            finally:
                if getter in self._getters:
                    self._getters.remove(getter)
        return self._items.pop(0)


def _abort(request: http.Request) -> None:
    channel = request.channel
    if channel is not None and channel.transport is not None:
        channel.transport.abortConnection()


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


class _Served:
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


def _with_static_files(application: Any) -> Any:
    """Under ``DEBUG``, serve ``STATIC_URL`` in front of ``application``, as runserver does.

    An application that is Django's own ``ASGIStaticFilesHandler`` (an asgi.py serving
    its static files) gets sse's in its place, DEBUG or not: the same files, and a 404
    instead of a 500 with a traceback for a path that leaves the static folders.
    """
    from django.apps import apps
    from django.conf import settings

    if not (settings.configured and apps.ready):
        return application
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from sse.server.staticfiles import StaticFilesHandler

    if type(application) is ASGIStaticFilesHandler:
        return StaticFilesHandler(application.application)
    if not settings.DEBUG or not apps.is_installed("django.contrib.staticfiles"):
        return application
    if isinstance(application, ASGIStaticFilesHandler):
        return application
    return StaticFilesHandler(application)


def run_checks() -> None:
    """Django's system checks, as ``manage.py runserver`` runs them before it serves.

    Printed (to stderr, with runserver's wording); an error exits with status 1. Nothing
    for an application that is not a Django project's.
    """
    from django.apps import apps
    from django.conf import settings

    if not (settings.configured and apps.ready):
        return
    from django.core.management.base import BaseCommand, SystemCheckError
    from django.db import DatabaseError, connections

    command = BaseCommand(stdout=sys.stderr, stderr=sys.stderr)
    command.stdout.write("Performing system checks...\n\n")
    try:
        command.check(display_num_errors=True)
    except SystemCheckError as error:
        command.stderr.write(f"{error}\n")
        raise SystemExit(1) from None
    try:
        command.check_migrations()  # "You have N unapplied migration(s)...", as runserver says
    except DatabaseError as error:
        # A database down at start-up is no reason not to serve: requests will say so.
        command.stderr.write(f"Could not check for unapplied migrations: {error}\n")
    finally:
        connections.close_all()  # this thread goes on to run the event loop


def with_backlog(endpoint: str) -> str:
    """A tcp: or unix: endpoint string with ``SSE_LISTEN_BACKLOG`` unless it names a backlog.

    Twisted listens with a backlog of 50: in a reconnect storm the kernel drops the
    connections past it, and each client waits a TCP retransmission (1 s, then 3 s)
    before it is even seen.
    """
    from sse.conf import conf

    kind = endpoint.split(":", 1)[0]
    if kind not in ("tcp", "unix") or re.search(r"(^|:)backlog=", endpoint):
        return endpoint
    return f"{endpoint}:backlog={conf.SSE_LISTEN_BACKLOG}"


class _Server(Server):  # type: ignore[misc]  # Daphne ships no type information
    """Daphne's server, given other constructor arguments, with back-pressure in its ``send()``."""

    def __init__(
        self,
        application: Any,
        *args: Any,
        endpoints: list[str] | None = None,
        action_logger: Any = None,
        **kwargs: Any,
    ) -> None:
        access_log = None
        if type(action_logger) is AccessLogGenerator:  # the CLI's: the same file, one line per request
            access_log = _RedactingLogger(AccessLog(action_logger.stream))
            action_logger = _WithoutHttpLines(access_log)
        elif action_logger is not None:
            action_logger = _RedactingLogger(action_logger)
        application = _Served(_with_static_files(application), access_log)
        super().__init__(
            application,
            *args,
            endpoints=[with_backlog(endpoint) for endpoint in endpoints or []],
            action_logger=action_logger,
            **kwargs,
        )

    def run(self) -> None:
        run_checks()
        super().run()

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> _InputQueue | None:
        # Daphne's own, with a lighter input queue.
        assert "application_instance" not in self.connections[protocol]
        input_queue = _InputQueue()
        scope.setdefault("asgi", {"version": "3.0"})
        application_instance = self.application(
            scope=scope, receive=input_queue.get, send=partial(self.handle_reply, protocol)
        )
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(application_instance)
        return input_queue

    async def handle_reply(self, protocol: Any, message: dict[str, Any]) -> None:
        kind = message.get("type")
        flow: _FlowControl | None = getattr(protocol, "sse_flow", None)
        if flow is not None and kind == "http.response.body":
            if flow.paused:
                from sse.conf import conf

                timeout = conf.SSE_SEND_TIMEOUT_SECONDS
                try:
                    writable = await flow.writable(timeout)
                except asyncio.CancelledError:
                    # The application gave up on this send (its own timeout, or its client
                    # went): what it sent so far cannot be taken back, so the connection goes.
                    _abort(protocol)
                    raise
                if not writable:
                    # Reads nothing: drop it. An EventSource reconnects and resumes from its last id.
                    logger.info("cut off a client that read nothing for %ss", timeout)
                    protocol.sse_flow = None
                    _abort(protocol)
                    raise SendCutOff(f"the client read nothing for {timeout}s")
            if not message.get("more_body", False):
                protocol.sse_flow = None
                if protocol.channel is not None:
                    protocol.unregisterProducer()
        await super().handle_reply(protocol, message)
        if (
            kind == "http.response.start"
            and isinstance(protocol, http.Request)  # Daphne's WebRequest is one
            and not protocol.finished
            and protocol.channel is not None
        ):
            flow = _FlowControl()
            request: Any = protocol  # twisted.web ships no annotations for it
            request.registerProducer(flow, True)
            request.sse_flow = flow


class _CommandLineInterface(CommandLineInterface):  # type: ignore[misc]  # Daphne ships no type information
    server_class = _Server


def main(argv: list[str] | None = None) -> None:
    _CommandLineInterface().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":  # python -m sse.server.daphne works too
    main()
