"""End every stream cleanly when the process is told to stop, under any ASGI server.

Servers learn of a deploy from SIGTERM (or SIGINT), and most then wait for open
responses to finish before they exit: an event stream never finishes, so uvicorn,
gunicorn's uvicorn workers, granian and hypercorn (on Python >= 3.12, whose
``Server.wait_closed()`` waits for every connection) wait until they are killed,
and Daphne cancels the streams mid-body. None of them tells a running response.

Two hooks, the same code path behind both:

- the signal: :func:`install` (called from the main thread when the hub starts,
  and at ASGI lifespan startup) puts a handler in front of the one the server
  installed for SIGTERM and SIGINT. On a signal it ends every stream of the
  process's hub (:meth:`ChannelHub.stop`: each gets its own spread ``retry:`` and
  a clean end of body), waits up to ``SSE_SHUTDOWN_GRACE_SECONDS`` for them to
  go, then puts the servers' handlers back and raises the signal again, so the
  server shuts down as it would have, with no stream left to wait for. Signals
  during that wait are not handed on (see ``_on_signal``).
- ASGI lifespan shutdown (:func:`end_streams`), for a server that stops without
  a signal reaching this process, or that sends it before it waits for
  responses (granian does).

A server that cancels the responses it still has once its own shutdown begins
(Daphne does; uvicorn, hypercorn and granian wait for them) can count them with
:func:`responding` (``python -m sse.daphne`` does, with :func:`responding_now`): the wait above is then for
them too.

Only public interfaces: ``signal.getsignal``/``signal.signal``/``signal.raise_signal``
and the ASGI lifespan protocol; nothing of any server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sized
from types import FrameType
from typing import Any, Protocol

from sse import runtime
from sse.conf import conf

__all__ = ["Streams", "end_streams", "install", "on_hub_start", "register", "responding", "responding_now"]

logger = logging.getLogger("sse.shutdown")

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Streams(Protocol):
    """What a shutdown uses of the process's hub (``sse.hub.channel_hub.ChannelHub``)."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...
    @property
    def subscribers(self) -> Sized: ...
    @property
    def stopping(self) -> bool: ...
    async def stop(self) -> None: ...


def _no_hub() -> Streams | None:
    return None


class ShutdownState:
    """A process's shutdown wiring: ``runtime.get().part(ShutdownState)`` (made by
    :func:`register` and :func:`install`, before any signal handler of ours runs)."""

    def __init__(self) -> None:
        #: The process's hub whose streams a shutdown ends, if its loop runs (None: no streams).
        self.running: Callable[[], Streams | None] = _no_hub
        #: The handler each signal had before ours: given back (and the signal raised
        #: again) once the streams have ended.
        self.previous: dict[int, Any] = {}
        self.lock = threading.Lock()
        self.signalled = False
        #: Responses in flight, as counted by responding() / responding_now().
        self.responding = 0


def _state() -> ShutdownState:
    return runtime.get().part(ShutdownState)


def register(running: Callable[[], Streams | None]) -> None:
    """Where to find the process's running hub: ``SseConfig.ready`` registers
    ``ChannelHub.running`` here, and :func:`on_hub_start` as the hubs' start callback."""
    _state().running = running


def on_hub_start(hub: object) -> None:
    """A hub started serving streams: :func:`install` (a no-op off the main thread, and when a
    lifespan startup installed it already)."""
    install()


@contextlib.contextmanager
def responding() -> Iterator[None]:
    """Count a response in flight while the block runs: a shutdown waits for it as for a stream.

    For servers that cancel whatever is left once their own shutdown begins. Use it on the
    hub's event loop (the server's).
    """
    responding_now(1)
    try:
        yield
    finally:
        responding_now(-1)


def responding_now(change: int) -> None:
    """:func:`responding` without a context manager: +1 when a response starts, -1 when it ends."""
    _state().responding += change


def install() -> bool:
    """Put the stream-ending handler in front of SIGTERM and SIGINT (main thread only).

    Idempotent, and safe to call again after a server replaced it: it then chains the
    server's new handler. A signal that is ignored (``SIG_IGN``) or whose handler was not
    installed from Python (``None``) is left alone. False where it cannot install (not the
    main thread).
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    state = _state()
    with state.lock:
        for sig in _SIGNALS:
            current = signal.getsignal(sig)
            if current is _on_signal or current is None or current == signal.SIG_IGN:
                continue
            state.previous[sig] = current
            signal.signal(sig, _on_signal)
            logger.debug("in front of %s's handler %r", signal.Signals(sig).name, current)
    return True


def _hand_on(signum: int) -> None:
    """Give every signal back to the handler it had before ours, and raise ``signum`` again."""
    state = _state()
    with state.lock:
        for sig, previous in list(state.previous.items()):
            if signal.getsignal(sig) is _on_signal:
                signal.signal(sig, previous)
        state.previous.clear()
    signal.raise_signal(signum)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    state = _state()  # made by install(), which put this handler in: a dict look-up
    if state.signalled:
        # Already ending the streams, for at most SSE_SHUTDOWN_GRACE_SECONDS: the server gets
        # the first signal then. Not handed on now: granian's worker handler blocks its event
        # loop until every response has ended, and its main process sends a SIGTERM of its
        # own after the one a process group (systemd, a terminal's Ctrl+C) already got.
        return
    hub = state.running()
    if hub is None:
        _hand_on(signum)  # no streams in this process
        return
    state.signalled = True
    loop = hub.loop

    def start() -> None:
        task = loop.create_task(end_streams())
        task.add_done_callback(lambda _task: _hand_on(signum))

    # Runs in the main thread between two bytecodes, maybe inside the loop's own code:
    # the work goes to the loop.
    loop.call_soon_threadsafe(start)


async def end_streams(grace: float | None = None) -> None:
    """End every stream of this process's hub cleanly, then wait for them to go.

    Each stream gets its own ``retry:`` (``SSE_SHUTDOWN_RETRY_SPREAD_MS``) and an end of
    body; returns once all have ended, and the responses counted by :func:`responding`
    too, or after ``grace`` seconds (``SSE_SHUTDOWN_GRACE_SECONDS``). Call on the hub's loop.
    """
    state = _state()
    hub = state.running()
    if hub is None or hub.loop is not asyncio.get_running_loop():
        return
    if grace is None:
        grace = conf.SSE_SHUTDOWN_GRACE_SECONDS
    count = len(hub.subscribers)
    started = hub.loop.time()
    if not hub.stopping:
        await hub.stop()
    deadline = started + grace
    while (hub.subscribers or state.responding > 0) and hub.loop.time() < deadline:
        await asyncio.sleep(0.02)
    # The server writes each response's last bytes after its application returns.
    await asyncio.sleep(0.05)
    logger.info(
        "ended %d streams for shutdown in %.2fs (%d still open)",
        count,
        hub.loop.time() - started,
        len(hub.subscribers),
    )


async def lifespan(receive: Callable[[], Any], send: Callable[[dict[str, Any]], Any]) -> None:
    """An ASGI lifespan: install the signal handler at startup, end the streams at shutdown."""
    while True:
        message = await receive()
        kind = message.get("type")
        if kind == "lifespan.startup":
            install()
            await send({"type": "lifespan.startup.complete"})
        elif kind == "lifespan.shutdown":
            try:
                await end_streams()
            except Exception:
                logger.exception("ending streams at lifespan shutdown failed")
            await send({"type": "lifespan.shutdown.complete"})
            return
