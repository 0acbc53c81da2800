"""Run Daphne fit for long event streams.

``python -m sse.daphne project.asgi:application -b 127.0.0.1 -p 8000``
takes Daphne's own arguments and adds what plain Daphne lacks for streams:

- an access log that never shows stream tokens: Daphne logs each request's
  query string, and ``?token=`` is a credential for a few minutes, so this
  writes ``token=[redacted]`` (however the name is percent-encoded). Every
  request gets its line when it ends, with its duration, bytes and why it
  ended, streams whose client went away included (``sse.access_log``);
- back-pressure: Daphne's ``send()`` returns at once and Twisted buffers
  whatever a client does not read, without limit. Here ``send()`` waits while
  the socket's buffer is full, so a stream that falls behind fills its own
  bounded queue in the hub and is closed (its client resumes from the log);
  a client that reads nothing for ``SSE_SEND_TIMEOUT_SECONDS`` is cut off;
- graceful shutdown: on SIGTERM/SIGINT it stops listening, ends every stream
  with a clean end of body (browsers then reconnect, to another process or
  the restarted one, and resume), waits up to ``SSE_SHUTDOWN_GRACE_SECONDS``
  for responses to finish, then lets Daphne cancel what is left; each stream
  is told to come back after its own ``retry:`` (``SSE_SHUTDOWN_RETRY_SPREAD_MS``),
  so the restarted process is not met by every client at once;
- a listen backlog of ``SSE_LISTEN_BACKLOG`` (2048) instead of Twisted's 50,
  so a reconnect storm waits to be accepted rather than being dropped;
- a garbage collector that does not walk thousands of streams' objects every few
  thousand allocations (``SSE_GC_THRESHOLD``, start-up objects frozen);
- static files under ``DEBUG``, as ``manage.py runserver`` serves them (when
  ``django.contrib.staticfiles`` is installed), so ``{% static 'sse/sse.js' %}``
  loads during development; a path that leaves the static folders
  (``/static/../settings.py``) is a 404, not a 500 with a traceback
  (``sse.staticfiles``);
- cheaper streams: writes go to the socket at once when nothing is buffered
  (Twisted otherwise registers the socket with the selector and writes on the
  next loop turn, per chunk), and each request's ASGI input queue and flow
  control are a few hundred bytes instead of over 4 KB.
"""

# Upstream internals this module relies on (no release promises them; pyproject.toml caps
# Daphne and Twisted below their first untested release). tests/sse/test_upstream.py has one
# test for each, and fails naming it and the installed version:
#
# - Twisted: tcp.Port.transport, the connection class every listening port builds (replaced
#   process-wide by _Server.run); on those connections _aborting, _writeDisconnecting,
#   _writeDisconnected, _tempDataLen, dataBuffer/offset and TLS (_EagerServer); on
#   twisted.web's HTTPChannel, _waitingForTransport (_FlowControl).
# - Daphne: Server.create_application (copied in _Server with a lighter queue, so it must
#   still match Daphne's), Server.handle_reply, listen_success, kill_all_applications (a
#   "before shutdown" trigger that may return a Deferred), Server.connections, the protocols
#   using only put_nowait on the input queue, CommandLineInterface.server_class; for the
#   access log: Server.log_action (WebRequest.handle_reply's "complete" line, dropped here),
#   Server.protocol_disconnected (called by WebRequest.finish and connectionLost),
#   AccessLogGenerator.stream, and on WebRequest: application_queue, client_addr, duration(),
#   uri, method, code, finished and sentLength.

from __future__ import annotations

import asyncio
import logging
import re
import sys
from functools import partial
from typing import Any

from daphne.access import AccessLogGenerator
from daphne.cli import CommandLineInterface
from daphne.http_protocol import WebRequest
from daphne.server import Server
from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from sse.access_log import CLIENT_GONE, COMPLETE, CUT_OFF, SERVER_SHUTDOWN, AccessLog, request_details
from sse.redaction import redact

logger = logging.getLogger("sse.daphne")

__all__ = ["main", "redact"]


def _shutting_down() -> bool:
    """Whether this process's hub is ending its streams for a shutdown (sse.shutdown)."""
    from sse.hub import ChannelHub

    hub = ChannelHub.running()
    return hub is not None and hub.stopping


class _RedactingLogger:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __call__(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        if "path" in details:
            details = {**details, "path": redact(str(details["path"]))}
        self._inner(protocol, action, details)


@implementer(IPushProducer)
class _FlowControl:
    """Registered on a response: Twisted pauses it while the socket's send buffer is full."""

    __slots__ = ("_resumed", "paused")

    def __init__(self, request: Any) -> None:
        # Twisted only calls pause on a change: start from the channel's current state.
        self.paused = bool(getattr(request.channel, "_waitingForTransport", False))
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


def _abort(request: Any) -> None:
    channel = getattr(request, "channel", None)
    if channel is not None and channel.transport is not None:
        channel.transport.abortConnection()


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

    from sse.staticfiles import StaticFilesHandler

    if type(application) is ASGIStaticFilesHandler:
        return StaticFilesHandler(application.application)
    if not settings.DEBUG or not apps.is_installed("django.contrib.staticfiles"):
        return application
    if isinstance(application, ASGIStaticFilesHandler):
        return application
    return StaticFilesHandler(application)


class _Server(Server):  # type: ignore[misc]  # Daphne ships no type information
    def __init__(self, application: Any, *args: Any, action_logger: Any = None, **kwargs: Any) -> None:
        if type(action_logger) is AccessLogGenerator:  # the CLI's: the same stream, lines with more
            action_logger = AccessLog(action_logger.stream)
        if action_logger is not None:
            action_logger = _RedactingLogger(action_logger)
        super().__init__(_with_static_files(application), *args, action_logger=action_logger, **kwargs)
        self._ports: list[Any] = []

    def log_action(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        # Daphne's own line comes only when the application ends a body: dropped, since
        # protocol_disconnected writes one for every request, whatever ended it.
        if protocol == "http" and action == "complete" and "ended" not in details:
            return
        super().log_action(protocol, action, details)

    def protocol_disconnected(self, protocol: Any) -> None:
        super().protocol_disconnected(protocol)
        self._log_end(protocol)

    def _log_end(self, request: Any) -> None:
        """The request's access-log line, once: called when it finishes or its connection is lost."""
        if not isinstance(request, WebRequest) or getattr(request, "sse_logged", False):
            return
        if not request.finished and request.application_queue is None:
            return  # upgraded to a WebSocket (logged as one), or never reached the application
        request.sse_logged = True
        ended = getattr(request, "sse_end", None) or (COMPLETE if request.finished else CLIENT_GONE)
        if ended == COMPLETE and _shutting_down():
            ended = SERVER_SHUTDOWN  # ended by sse.shutdown, before Daphne's own shutdown began
        try:
            self.log_action("http", "complete", request_details(request, ended))
        except Exception:
            logger.exception("access log line failed")

    def run(self) -> None:
        self.endpoints: list[str] = [with_backlog(endpoint) for endpoint in self.endpoints]
        super().run()

    def listen_success(self, port: Any) -> None:
        self._ports.append(port)
        super().listen_success(port)

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

                if not await flow.writable(conf.SSE_SEND_TIMEOUT_SECONDS):
                    # Reads nothing: drop it. An EventSource reconnects and resumes from its last id.
                    logger.info("cut off a client that read nothing for %ss", conf.SSE_SEND_TIMEOUT_SECONDS)
                    protocol.sse_flow = None
                    protocol.sse_end = CUT_OFF
                    _abort(protocol)
                    return
            if not message.get("more_body", False):
                protocol.sse_flow = None
                if getattr(protocol, "channel", None) is not None and protocol.producer is flow:
                    protocol.unregisterProducer()
        await super().handle_reply(protocol, message)
        if kind == "http.response.start":
            protocol.sse_status = message.get("status")
        if (
            kind == "http.response.start"
            and protocol in self.connections
            and not protocol.finished
            and protocol.channel is not None
            and protocol.producer is None
        ):
            flow = _FlowControl(protocol)
            protocol.registerProducer(flow, True)
            protocol.sse_flow = flow

    def kill_all_applications(self) -> Any:
        # Daphne cancels every application here, which cuts streams off mid-body:
        # end them cleanly first.
        ended = defer.Deferred.fromFuture(asyncio.ensure_future(self._end_streams()))
        ended.addErrback(lambda failure: logger.error("ending streams failed: %s", failure.value))
        ended.addBoth(lambda _: super(_Server, self).kill_all_applications())
        ended.addBoth(self._log_the_rest)
        return ended

    def _log_the_rest(self, result: Any) -> Any:
        # Cancelled, with the reactor about to stop: their lines now, not on a connectionLost
        # that may never come.
        for protocol in list(self.connections):
            if isinstance(protocol, WebRequest) and not protocol.finished:
                protocol.sse_end = getattr(protocol, "sse_end", None) or SERVER_SHUTDOWN
            self._log_end(protocol)
        return result

    async def _end_streams(self) -> None:
        from sse.conf import conf
        from sse.hub import ChannelHub

        for port in self._ports:
            port.stopListening()  # reconnects go to another process, or wait for the restart
        for protocol in self.connections:
            if isinstance(protocol, WebRequest) and not protocol.finished:
                protocol.sse_end = SERVER_SHUTDOWN  # for its access-log line
        hub = ChannelHub.running()
        if hub is None:
            return
        await hub.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + conf.SSE_SHUTDOWN_GRACE_SECONDS
        while loop.time() < deadline and any(
            not details["application_instance"].done()
            for details in self.connections.values()
            if "application_instance" in details
        ):
            await asyncio.sleep(0.05)


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


class _CommandLineInterface(CommandLineInterface):  # type: ignore[misc]  # Daphne ships no type information
    server_class = _Server


def main(argv: list[str] | None = None) -> None:
    _CommandLineInterface().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
