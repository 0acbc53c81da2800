"""``python -m sse.daphne``: Daphne with back-pressure, system checks and a redacted access log.

A convenience (``sse.server.daphne`` holds it): every guarantee of ``sse`` holds under any ASGI
server given ``sse.asgi.get_asgi_application()``; this command adds what Daphne alone lacks.
"""

from sse.server.daphne import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
