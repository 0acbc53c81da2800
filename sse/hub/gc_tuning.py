"""The garbage collector tuned for many open streams, once per process (``SSE_GC_THRESHOLD``)."""

from __future__ import annotations

import gc

from sse import runtime
from sse.conf import conf
from sse.hub.process_hub import ProcessHub

__all__ = ["tune_gc", "tune_gc_once"]


def tune_gc() -> None:
    """Collect less often, and never scan what start-up made (``SSE_GC_THRESHOLD``; 0: leave it).

    Every open stream is a few hundred objects; with Python's default threshold (2000)
    the collector's full passes over them came often enough, with 5,000 streams, to
    hold a reconnect storm up for minutes (measured: clients caught up after 140 s
    instead of 28 s). Called once per process when its first hub starts, so every
    server gets it, not only ``python -m sse.daphne``.
    """
    threshold = conf.SSE_GC_THRESHOLD
    if threshold > 0:
        gc.collect()
        gc.freeze()
        gc.set_threshold(threshold, 20, 100)


def tune_gc_once() -> None:
    """:func:`tune_gc`, once per process (its runtime's :class:`ProcessHub` remembers)."""
    hub = runtime.get().part(ProcessHub)
    if not hub.gc_tuned:
        hub.gc_tuned = True
        tune_gc()
