"""The project served by Django's own ASGI handler, for comparison with ``project.asgi``."""

from django.core.asgi import get_asgi_application

application = get_asgi_application()
