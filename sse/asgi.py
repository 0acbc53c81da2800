"""The ASGI entry point of a site that serves streams: ``get_asgi_application()``.

The handler itself is ``sse.server.asgi``; this module is its public name::

    from sse.asgi import get_asgi_application
    application = get_asgi_application()
"""

from sse.server.asgi import StreamingASGIHandler, get_asgi_application

__all__ = ["StreamingASGIHandler", "get_asgi_application"]
