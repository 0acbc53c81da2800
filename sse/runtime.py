"""The one object holding what sse keeps per process: built with the app, reached by :func:`get`.

Nothing else in ``sse`` keeps state at module level: the channel registry, the event log
and the name ids carry, the layer sender and its thread, the hub of the running loop and
the per-loop batchers all hang off the :class:`Runtime` that ``SseConfig`` builds (in its
``__init__``, so apps' modules imported before ``ready()`` can register channels; ``ready()``
connects its signals). :func:`get` finds it through Django's app registry, so it goes
with the app config, not with a module global.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from sse.channels.patterns import ChannelRegistry
from sse.conf import conf
from sse.transport.sender import LayerSender

if TYPE_CHECKING:
    from sse.storage.base import EventLog

__all__ = ["DEFAULT_LOG_BACKEND", "Runtime", "get"]

logger = logging.getLogger("sse.log")

DEFAULT_LOG_BACKEND = "sse.storage.db.DatabaseEventLog"


class Runtime:
    """What sse holds in one process."""

    def __init__(self) -> None:
        #: The channel patterns (``@sse.channel``, ``sse.register_channel``).
        self.registry = ChannelRegistry()
        #: Layer sends from sync code, on one loop thread (started on first send).
        self.sender = LayerSender()
        #: The hub of the running event loop (a ``ChannelHub``; typed here without
        #: importing the hub, which imports this module). Guarded by ``hub_lock``.
        self.hub: object | None = None
        self.hub_lock = threading.Lock()
        #: The hub this process's sign-outs and access notices reach (``sse.auth.revocation``).
        self.watched: weakref.ref[Any] | None = None
        # Access notices this process's hub took in (sse.auth.identity.notice_epoch).
        self.access_notices = 0
        #: Each hub's re-checks on notice (``sse.auth.revocation.check_now``).
        self.hub_checks: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        #: One look-up batcher per event loop (``sse.auth.batched``).
        self.batchers: dict[asyncio.AbstractEventLoop, object] = {}
        #: Whether an auth backend path keeps ``ModelBackend.get_user`` (``sse.auth.batched``).
        self.model_backends: dict[str, bool] = {}
        self._log: EventLog | None = None
        self._log_id: str | None = None
        self._log_lock = threading.Lock()
        self._origin: tuple[int, str] | None = None

    # -- the event log, and its name ---------------------------------------------

    @property
    def log(self) -> EventLog:
        """The event log ``SSE_EVENT_LOG`` names, made on first use."""
        log = self._log
        if log is None:
            with self._log_lock:
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
        with self._log_lock:
            self._log, self._log_id = None, None

    # -- this process in layer messages ------------------------------------------

    def process_origin(self) -> str:
        """This process, in access notices: a hub skips its own (it heard them directly)."""
        origin = self._origin
        if origin is None or origin[0] != os.getpid():  # a forked child is another process
            origin = self._origin = (os.getpid(), f"{os.getpid()}-{os.urandom(6).hex()}")
        return origin[1]


def get() -> Runtime:
    """This process's runtime: the one ``SseConfig`` holds."""
    try:
        config = apps.get_app_config("sse")
    except LookupError:
        # As sse.apps.require_installed says it (not imported: sse.apps imports this module).
        raise ImproperlyConfigured(
            "sse.runtime needs the sse app: add 'sse' to INSTALLED_APPS "
            "(INSTALLED_APPS = ['daphne', *INSTALLED_APPS, 'sse', ...]), then run "
            "python manage.py migrate to create its tables."
        ) from None
    found = getattr(config, "runtime", None)  # SseConfig's (sse.apps imports this module, not back)
    if not isinstance(found, Runtime):
        raise ImproperlyConfigured(f"the app labelled 'sse' is {config.name!r}, not sse")
    return found
