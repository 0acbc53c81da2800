"""ASGI entry point: ``daphne project.asgi:application``."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

django_application = get_asgi_application()

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

# The demo serves its own static files; in production put nginx in front.
application = ASGIStaticFilesHandler(django_application)
