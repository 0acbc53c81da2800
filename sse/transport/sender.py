"""Layer sends from sync code (publishers, access notices), on one event-loop thread per process."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time
from collections.abc import Coroutine
from typing import Any

__all__ = ["SEND_BACKOFF", "SEND_TIMEOUT", "LayerSender", "ProcessTransport"]

# A layer send that takes longer is given up: the event is in the log, hubs find it there.
SEND_TIMEOUT = 5.0
# After a failed send, skip the layer this long: publishers must not wait on a dead Redis
# for every event, and the hubs poll the log meanwhile.
SEND_BACKOFF = 2.0


class LayerSender:
    """Layer sends from sync code, on one event-loop thread per process.

    ``async_to_sync`` would start an event loop per call, and channels_redis keeps
    its connections per loop: that is a new Redis connection for every event.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._down_until = 0.0

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float) -> bool:
        """Run ``coro`` on the sender loop; False if skipped because the layer just failed."""
        if time.monotonic() < self._down_until:
            coro.close()
            return False
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            self._down_until = time.monotonic() + SEND_BACKOFF
            raise TimeoutError(f"no answer in {timeout}s") from None
        except BaseException:
            self._down_until = time.monotonic() + SEND_BACKOFF
            raise
        return True

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked child needs its own
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="sse-publish", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop


class ProcessTransport:
    """This process in the layer (``runtime.get().part(ProcessTransport)``): its sender and origin."""

    def __init__(self) -> None:
        #: Layer sends from sync code, on one loop thread (started on first send).
        self.sender = LayerSender()
        self._origin: tuple[int, str] | None = None

    def process_origin(self) -> str:
        """This process, in access notices: a hub skips its own (it heard them directly)."""
        origin = self._origin
        if origin is None or origin[0] != os.getpid():  # a forked child is another process
            origin = self._origin = (os.getpid(), f"{os.getpid()}-{os.urandom(6).hex()}")
        return origin[1]
