"""Run Daphne fit for long event streams.

``python -m sse.daphne project.asgi:application -b 127.0.0.1 -p 8000``
takes Daphne's own arguments and adds three things plain Daphne lacks:

- an access log that never shows stream tokens: Daphne logs each request's
  query string, and ``?token=`` is a credential for a few minutes, so this
  writes ``token=[redacted]``;
- back-pressure: Daphne's ``send()`` returns at once and Twisted buffers
  whatever a client does not read, without limit. Here ``send()`` waits while
  the socket's buffer is full, so a stream that falls behind fills its own
  bounded queue in the hub and is closed (its client resumes from the log);
  a client that reads nothing for ``SSE_SEND_TIMEOUT_SECONDS`` is cut off;
- graceful shutdown: on SIGTERM/SIGINT it stops listening, ends every stream
  with a clean end of body (browsers then reconnect, to another process or
  the restarted one, and resume), waits up to ``SSE_SHUTDOWN_GRACE_SECONDS``
  for responses to finish, then lets Daphne cancel what is left.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import weakref
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.server import Server
from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

logger = logging.getLogger("sse.daphne")

__all__ = ["main", "redact"]

_SECRET_PARAM = re.compile(r"((?:^|[?&])(?:token|access_token)=)[^&#\s]*", re.IGNORECASE)


def redact(path: str) -> str:
    return _SECRET_PARAM.sub(r"\1[redacted]", path)


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

    def __init__(self, request: Any) -> None:
        self.writable = asyncio.Event()
        # Twisted only calls pause on a change: start from the channel's current state.
        if not getattr(request.channel, "_waitingForTransport", False):
            self.writable.set()

    def pauseProducing(self) -> None:
        self.writable.clear()

    def resumeProducing(self) -> None:
        self.writable.set()

    def stopProducing(self) -> None:
        self.writable.set()


def _abort(request: Any) -> None:
    channel = getattr(request, "channel", None)
    if channel is not None and channel.transport is not None:
        channel.transport.abortConnection()


class _Server(Server):
    def __init__(self, *args: Any, action_logger: Any = None, **kwargs: Any) -> None:
        if action_logger is not None:
            action_logger = _RedactingLogger(action_logger)
        super().__init__(*args, action_logger=action_logger, **kwargs)
        self._flows: weakref.WeakKeyDictionary[Any, _FlowControl] = weakref.WeakKeyDictionary()
        self._ports: list[Any] = []

    def listen_success(self, port: Any) -> None:
        self._ports.append(port)
        super().listen_success(port)

    async def handle_reply(self, protocol: Any, message: dict[str, Any]) -> None:
        kind = message.get("type")
        flow = self._flows.get(protocol)
        if flow is not None and kind == "http.response.body":
            if not flow.writable.is_set():
                from sse.conf import conf

                try:
                    await asyncio.wait_for(flow.writable.wait(), conf.SEND_TIMEOUT_SECONDS)
                except TimeoutError:
                    # Reads nothing: drop it. An EventSource reconnects and resumes from its last id.
                    logger.info("cut off a client that read nothing for %ss", conf.SEND_TIMEOUT_SECONDS)
                    self._flows.pop(protocol, None)
                    _abort(protocol)
                    return
            if not message.get("more_body", False):
                self._flows.pop(protocol, None)
                if getattr(protocol, "channel", None) is not None and protocol.producer is flow:
                    protocol.unregisterProducer()
        await super().handle_reply(protocol, message)
        if (
            kind == "http.response.start"
            and protocol in self.connections
            and not protocol.finished
            and protocol.channel is not None
            and protocol.producer is None
        ):
            flow = _FlowControl(protocol)
            protocol.registerProducer(flow, True)
            self._flows[protocol] = flow

    def kill_all_applications(self) -> Any:
        # Daphne cancels every application here, which cuts streams off mid-body:
        # end them cleanly first.
        ended = defer.Deferred.fromFuture(asyncio.ensure_future(self._end_streams()))
        ended.addErrback(lambda failure: logger.error("ending streams failed: %s", failure.value))
        ended.addBoth(lambda _: super(_Server, self).kill_all_applications())
        return ended

    async def _end_streams(self) -> None:
        from sse.conf import conf
        from sse.hub import ChannelHub

        for port in self._ports:
            port.stopListening()  # reconnects go to another process, or wait for the restart
        hub = ChannelHub.running()
        if hub is None:
            return
        await hub.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + conf.SHUTDOWN_GRACE_SECONDS
        while loop.time() < deadline and any(
            not details["application_instance"].done()
            for details in self.connections.values()
            if "application_instance" in details
        ):
            await asyncio.sleep(0.05)


class _CommandLineInterface(CommandLineInterface):
    server_class = _Server


def main(argv: list[str] | None = None) -> None:
    _CommandLineInterface().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
