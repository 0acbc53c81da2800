"""A deadline for a request to arrive, for ``python -m sse.daphne``: ``408`` and close past it.

Twisted's HTTP channel reads a request's headers and its whole body before Daphne calls the
application, so ``sse.server.body_timeout`` never sees a slow body there, and nothing bounds
slow headers: Twisted's only timeout is an idle one (twelve hours under Daphne) that every
byte received starts again. :class:`DeadlineFactory` wraps Daphne's HTTP factory (Twisted's
public ``WrappingFactory``): each connection's next request must have arrived, headers and
body, within ``SSE_BODY_TIMEOUT_SECONDS`` of its first byte, plus a second for every
``SSE_BODY_MIN_BYTES_PER_SECOND`` bytes received; past it the client gets ``408`` with
``Connection: close`` and the connection is closed. Daphne calling the application
(:func:`request_arrived`) stops the clock; the end of its response (:func:`response_ended`)
starts it again for the next request on the connection. A connection that sent nothing of
a next request is not this clock's: Twisted's idle timeout has it.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.protocol import connectionDone
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure

from sse.server.body_timeout import TIMED_OUT_BODY

__all__ = ["DeadlineFactory", "DeadlineProtocol", "request_arrived", "response_ended"]

TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(TIMED_OUT_BODY), TIMED_OUT_BODY)
)


def _clock() -> Any:
    # Imported when first needed, never at import: Daphne installs its asyncio reactor first.
    # Twisted's interfaces are zope ones, which mypy reads poorly: the reactor, the timer (an
    # IDelayedCall) and the transport are used through their documented methods, typed Any.
    from twisted.internet import reactor

    return reactor


class DeadlineProtocol(ProtocolWrapper):
    """One connection: the clock of the request it is receiving, if any."""

    factory: DeadlineFactory
    transport: Any
    _timer: Any = None
    _waiting = True  # for a request: not between its arrival and its response's end

    def dataReceived(self, data: bytes) -> None:
        if self._waiting:
            earned = len(data) * self.factory.per_byte
            if self._timer is None:
                self._timer = _clock().callLater(self.factory.timeout + earned, self._expire)
            elif earned:
                self._timer.delay(earned)
        super().dataReceived(data)  # type: ignore[no-untyped-call]

    def arrived(self) -> None:
        self._waiting = False
        self._stop()

    def ended(self) -> None:
        self._waiting = True

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._stop()
        super().connectionLost(reason)  # type: ignore[no-untyped-call]

    def _stop(self) -> None:
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        self.transport.write(TIMED_OUT)
        self.transport.loseConnection()


class DeadlineFactory(WrappingFactory[DeadlineProtocol]):
    """Daphne's HTTP factory, each of its connections given :class:`DeadlineProtocol`."""

    protocol = DeadlineProtocol

    def __init__(self, wrapped: Any, timeout: float, min_bytes_per_second: int) -> None:
        super().__init__(wrapped)  # type: ignore[no-untyped-call]
        self.timeout = timeout
        self.per_byte = 1.0 / min_bytes_per_second if min_bytes_per_second else 0.0


def _deadline_of(protocol: Any) -> DeadlineProtocol | None:
    # A twisted.web request or a WebSocket protocol: its transport is the connection's wrapper.
    transport = getattr(protocol, "transport", None)
    return transport if isinstance(transport, DeadlineProtocol) else None


def request_arrived(protocol: Any) -> None:
    """Daphne calls the application for ``protocol``'s request: the clock stops."""
    deadline = _deadline_of(protocol)
    if deadline is not None:
        deadline.arrived()


def response_ended(protocol: Any) -> None:
    """``protocol``'s response ended (Daphne's ``protocol_disconnected``): the next request has the clock."""
    deadline = _deadline_of(protocol)
    if deadline is not None:
        deadline.ended()
