"""The event log: every published event, numbered per channel, kept for resume.

Configured like ``CACHES``: ``SSE_EVENT_LOG = {"BACKEND": "...", "OPTIONS": {...}}``.
Public: this module's names (the ``EventLog`` interface a backend implements, what it
returns, ``get_event_log()``); its sub-modules are not.
The log in use is the runtime's (``sse.storage.current.CurrentLog``): made on first use, made again when
``SSE_EVENT_LOG`` changes.
"""

from __future__ import annotations

from typing import Any

from sse import runtime
from sse.storage.base import ChannelSummary, EventLog, LoggedEvent, LogPosition, LogRow, LogTail, TailEvent
from sse.storage.current import DEFAULT_LOG_BACKEND, CurrentLog

__all__ = [
    "ChannelSummary",
    "EventLog",
    "LogPosition",
    "LogRow",
    "LogTail",
    "LoggedEvent",
    "TailEvent",
    "current_log_id",
    "get_event_log",
    "learn_log_id",
]

DEFAULT_BACKEND = DEFAULT_LOG_BACKEND


def get_event_log() -> EventLog:
    return runtime.get().part(CurrentLog).log


def current_log_id() -> str | None:
    """The log's name that ids carry, once read (``learn_log_id``); None before."""
    return runtime.get().part(CurrentLog).log_id


def learn_log_id() -> str | None:
    """Read the log's name, so ids minted from now on carry it (sync: may query).

    Called before a process's first view (a ``request_started`` receiver) and by a hub
    before its first stream; a failure (a database not migrated yet) is retried next time.
    """
    return runtime.get().part(CurrentLog).learn_log_id()


def learn_log_id_first(**kwargs: Any) -> None:
    """``request_started``: before the first view of a process, read the log's name in this sync hop."""
    rt = runtime.get().part(CurrentLog)
    if rt.log_id is None:
        rt.learn_log_id()


def forget_log_on_change(*, setting: str, **kwargs: Any) -> None:
    """``setting_changed``: a new ``SSE_EVENT_LOG`` is made on its next use."""
    if setting == "SSE_EVENT_LOG":
        runtime.get().part(CurrentLog).forget_log()
