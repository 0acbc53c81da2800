"""The one object holding what sse keeps per process: built with the app, reached by :func:`get`.

Nothing else in ``sse`` keeps state at module level: each part of sse (the channel
registry, the event log and the name ids carry, the layer sender, the hub of the running
loop, the auth bookkeeping, the shutdown wiring, ...) defines a class for its state, and
reaches the one instance of it this process has with ``runtime.get().part(ThatClass)``.
The :class:`Runtime` is built by ``SseConfig`` (in its ``__init__``, so apps' modules
imported before ``ready()`` can register channels); :func:`get` finds it through Django's
app registry, so it goes with the app config, not with a module global.

This module imports none of sse's parts: they import it (no import cycle).
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from sse.installed import not_installed_message

__all__ = ["Runtime", "get"]

T = TypeVar("T")


class Runtime:
    """What sse holds in one process: one state object per part, keyed by its class."""

    def __init__(self) -> None:
        #: Each part's state, keyed by its class (made on first use: :meth:`part`).
        self.parts: dict[type[Any], Any] = {}
        # Re-entrant: a part's constructor may reach another part.
        self._lock = threading.RLock()

    def part(self, kind: type[T]) -> T:
        """This process's ``kind`` (``kind()`` on first use): a dict look-up once made."""
        found: T | None = self.parts.get(kind)
        if found is None:
            with self._lock:
                found = self.parts.get(kind)
                if found is None:
                    found = self.parts[kind] = kind()
        return found


def get() -> Runtime:
    """This process's runtime: the one ``SseConfig`` holds."""
    try:
        config = apps.get_app_config("sse")
    except LookupError:
        raise ImproperlyConfigured(not_installed_message("sse.runtime")) from None
    found = getattr(config, "runtime", None)  # SseConfig's (sse.apps imports this module, not back)
    if not isinstance(found, Runtime):
        raise ImproperlyConfigured(f"the app labelled 'sse' is {config.name!r}, not sse")
    return found
