"""ASGI entry point: ``daphne project.asgi:application``."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

# Django's handler, except that event streams share one thread instead of one each.
from sse.asgi import get_asgi_application

django_application = get_asgi_application()

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

# The demo serves its own static files; in production put nginx in front.
application = ASGIStaticFilesHandler(django_application)
