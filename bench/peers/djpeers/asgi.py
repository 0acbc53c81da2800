import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.djpeers.settings")

# Django's stock handler: these peers are what a project gets without sse.server.asgi.
application = get_asgi_application()
