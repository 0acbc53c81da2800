"""The ASGI entry point of a site that serves streams: ``get_asgi_application()``.

The handler itself is ``sse.server.asgi``; this module is its public name::

    from sse.asgi import get_asgi_application
    application = get_asgi_application()

``StaticFilesHandler(application)`` serves the static files too (a path that leaves the
static folders is a 404, not a 500), for a site without a front server for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sse.server.asgi import StreamingASGIHandler, get_asgi_application

if TYPE_CHECKING:
    from sse.server.staticfiles import StaticFilesHandler

__all__ = ["StaticFilesHandler", "StreamingASGIHandler", "get_asgi_application"]


def __getattr__(name: str) -> Any:
    # Lazy: importing this module loads nothing of django.contrib.staticfiles.
    if name == "StaticFilesHandler":
        from sse.server.staticfiles import StaticFilesHandler

        return StaticFilesHandler
    raise AttributeError(f"module 'sse.asgi' has no attribute {name!r}")
