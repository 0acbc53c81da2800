"""The event log in use, and the name ids carry: this process's, held by its runtime.

``runtime.get().part(CurrentLog)``: made on first use, made again when ``SSE_EVENT_LOG``
changes (:meth:`CurrentLog.forget_log`).
"""

from __future__ import annotations

import logging
import threading

from django.utils.module_loading import import_string

from sse.conf import conf
from sse.storage.base import EventLog

__all__ = ["DEFAULT_LOG_BACKEND", "CurrentLog"]

logger = logging.getLogger("sse.log")

DEFAULT_LOG_BACKEND = "sse.storage.db.DatabaseEventLog"


class CurrentLog:
    """The event log ``SSE_EVENT_LOG`` names and its name, for one process."""

    def __init__(self) -> None:
        self._log: EventLog | None = None
        self._log_id: str | None = None
        self._lock = threading.Lock()

    @property
    def log(self) -> EventLog:
        """The event log ``SSE_EVENT_LOG`` names, made on first use."""
        log = self._log
        if log is None:
            with self._lock:
                if self._log is None:
                    config = conf.SSE_EVENT_LOG
                    backend = import_string(config.get("BACKEND", DEFAULT_LOG_BACKEND))
                    self._log = backend(**config.get("OPTIONS", {}))
                log = self._log
                assert log is not None
        return log

    @property
    def log_id(self) -> str | None:
        """The log's name that ids carry (None until read: :meth:`learn_log_id`)."""
        return self._log_id

    def adopt_log_id(self) -> str | None:
        """The log's name if the log has read it already (no query: safe in any transaction)."""
        if self._log_id is None:
            self._log_id = self.log.known_identity() or None
        return self._log_id

    def learn_log_id(self) -> str | None:
        """Read the log's name once, so ids minted from now on carry it (sync: may query).

        Called before a process's first view (a ``request_started`` receiver), by a hub
        before its first stream; a failure (a database not migrated
        yet) is retried next time. Once known it stays for the life of the log: only a
        new ``SSE_EVENT_LOG`` (:meth:`forget_log`) reads it again.
        """
        if self._log_id is None:
            try:
                self._log_id = self.log.identity() or None
            except Exception as exc:
                logger.debug("reading the event log's name failed: %s", exc)
        return self._log_id

    def forget_log(self) -> None:
        """``SSE_EVENT_LOG`` changed (tests): the next use makes the log and reads its name anew."""
        with self._lock:
            self._log, self._log_id = None, None
