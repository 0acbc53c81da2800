"""The process's hub and what goes with it: ``runtime.get().part(ProcessHub)``.

Held by the runtime (no class or module state): the hub of the running loop (a
``ChannelHub``, typed ``Any`` here: this module does not import the hub, which imports
it), the callbacks a hub calls when it starts, and whether the collector was tuned.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ProcessHub"]


class ProcessHub:
    """The hub of the running event loop, for one process."""

    def __init__(self) -> None:
        #: The hub of the running event loop (``ChannelHub.current``). Guarded by ``lock``.
        self.hub: Any = None
        self.lock = threading.Lock()
        #: Called with each hub when it starts serving streams (``ChannelHub.on_start``).
        self.start_callbacks: list[Callable[[Any], None]] = []
        #: The collector was tuned for many streams (``sse.hub.gc_tuning.tune_gc_once``).
        self.gc_tuned = False
        #: Numbers the streams of the process, for operators (``Subscriber.serial``).
        self.serials = itertools.count(1)
