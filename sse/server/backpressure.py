"""Back-pressure for ``python -m sse.daphne``: ``send()`` waits while the client's socket is full.

A push producer registered on each response's twisted.web request: Twisted pauses it on a
write past the transport's buffer size and resumes it once the client reads; a client that
reads nothing for ``SSE_SEND_TIMEOUT_SECONDS`` is cut off (:class:`SendCutOff`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.core.exceptions import RequestAborted
from twisted.internet.interfaces import IPushProducer
from twisted.web import http
from zope.interface import implementer

__all__ = [
    "FlowControl",
    "SendCutOff",
    "abort_connection",
    "end_flow",
    "flow_of",
    "follow_flow",
    "wait_writable",
]

logger = logging.getLogger("sse.daphne")


class SendCutOff(RequestAborted):
    """Raised by ``send()`` when the client read nothing for ``SSE_SEND_TIMEOUT_SECONDS``.

    The connection is aborted first. A ``RequestAborted``, so Django's handler ends the
    response as it does for a client that went away. This comes before ``sse.server.asgi``'s own
    cut of the same length (its watch cuts one to two intervals late, by design), so the
    access-log line says ``cut-off``; should that one come first, its cancellation of the
    waiting send aborts the connection all the same.
    """


@implementer(IPushProducer)
class FlowControl:
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


def abort_connection(request: http.Request) -> None:
    channel = request.channel
    if channel is not None and channel.transport is not None:
        channel.transport.abortConnection()


def flow_of(protocol: Any) -> FlowControl | None:
    """The flow control registered on this response, if any."""
    flow: FlowControl | None = getattr(protocol, "sse_flow", None)
    return flow


def follow_flow(protocol: Any) -> None:
    """Register a flow control on the response just started (a twisted.web request still open)."""
    if isinstance(protocol, http.Request) and not protocol.finished and protocol.channel is not None:
        flow = FlowControl()
        request: Any = protocol  # twisted.web ships no annotations for it
        request.registerProducer(flow, True)
        request.sse_flow = flow


def end_flow(protocol: Any) -> None:
    """The body's last message: the response needs its producer no more."""
    protocol.sse_flow = None
    if protocol.channel is not None:
        protocol.unregisterProducer()


async def wait_writable(protocol: Any, flow: FlowControl) -> None:
    """Return once the client reads again; :class:`SendCutOff` after ``SSE_SEND_TIMEOUT_SECONDS``."""
    from sse.conf import conf

    timeout = conf.SSE_SEND_TIMEOUT_SECONDS
    try:
        writable = await flow.writable(timeout)
    except asyncio.CancelledError:
        # The application gave up on this send (its own timeout, or its client
        # went): what it sent so far cannot be taken back, so the connection goes.
        abort_connection(protocol)
        raise
    if not writable:
        # Reads nothing: drop it. An EventSource reconnects and resumes from its last id.
        logger.info("cut off a client that read nothing for %ss", timeout)
        protocol.sse_flow = None
        abort_connection(protocol)
        raise SendCutOff(f"the client read nothing for {timeout}s")
