"""The event log: every published event, numbered per channel, kept for resume.

Configured like ``CACHES``: ``SSE_EVENT_LOG = {"BACKEND": "...", "OPTIONS": {...}}``.
Public: this module's names (the ``EventLog`` interface a backend implements, what it
returns, ``get_event_log()``); its sub-modules are not.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from sse.conf import conf
from sse.storage.base import ChannelSummary, EventLog, LoggedEvent, LogPosition, LogTail, TailEvent
from sse.wire.cursor import current_log_id, set_log_id

__all__ = [
    "ChannelSummary",
    "EventLog",
    "LogPosition",
    "LogTail",
    "LoggedEvent",
    "TailEvent",
    "get_event_log",
    "learn_log_id",
]

logger = logging.getLogger("sse.log")

DEFAULT_BACKEND = "sse.storage.db.DatabaseEventLog"


@lru_cache(maxsize=1)
def get_event_log() -> EventLog:
    config = conf.SSE_EVENT_LOG
    backend = import_string(config.get("BACKEND", DEFAULT_BACKEND))
    log: EventLog = backend(**config.get("OPTIONS", {}))
    return log


def learn_log_id() -> str | None:
    """Read the log's name, so ids minted from now on carry it (sync: may query).

    Called before a process's first view (a ``request_started`` receiver) and by a hub
    before its first stream; a failure (a database not migrated yet) is retried next time.
    """
    if current_log_id() is None:
        try:
            set_log_id(get_event_log().identity())
        except Exception as exc:
            logger.debug("reading the event log's name failed: %s", exc)
    return current_log_id()


def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting == "SSE_EVENT_LOG":
        get_event_log.cache_clear()
        set_log_id(None)


setting_changed.connect(_reset)
