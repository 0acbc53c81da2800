"""What sse's auth keeps per process: ``runtime.get().part(AuthState)`` (no module state).

A bottom module of ``sse.auth``: it imports none of its siblings, they import it.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

__all__ = ["AuthState"]


class AuthState:
    """The auth bookkeeping of one process."""

    def __init__(self) -> None:
        #: The hub this process's sign-outs and access notices reach (``sse.auth.revocation``).
        self.watched: weakref.ref[Any] | None = None
        #: Access notices this process's hub took in (``sse.auth.identity.notice_epoch``).
        self.access_notices = 0
        #: Each hub's re-checks on notice (``sse.auth.revocation.check_now``).
        self.hub_checks: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        #: One look-up batcher per event loop (``sse.auth.batched``).
        self.batchers: dict[asyncio.AbstractEventLoop, object] = {}
        #: Whether an auth backend path keeps ``ModelBackend.get_user`` (``sse.auth.batched``).
        self.model_backends: dict[str, bool] = {}
