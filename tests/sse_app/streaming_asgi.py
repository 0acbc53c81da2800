"""tests/sse_app behind ``sse.server.asgi``: streams on the thread they share, requests on long-lived ones."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.sse_app.settings")

from sse.asgi import get_asgi_application

application = get_asgi_application()
