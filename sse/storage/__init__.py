"""The event log: every published event, numbered per channel, kept for resume.

Configured like ``CACHES``: ``SSE_EVENT_LOG = {"BACKEND": "...", "OPTIONS": {...}}``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from sse.conf import conf
from sse.storage.base import EventLog, LoggedEvent

__all__ = ["EventLog", "LoggedEvent", "get_event_log"]

DEFAULT_BACKEND = "sse.storage.db.DatabaseEventLog"


@lru_cache(maxsize=1)
def get_event_log() -> EventLog:
    config = conf.SSE_EVENT_LOG
    backend = import_string(config.get("BACKEND", DEFAULT_BACKEND))
    log: EventLog = backend(**config.get("OPTIONS", {}))
    return log


def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting == "SSE_EVENT_LOG":
        get_event_log.cache_clear()


setting_changed.connect(_reset)
