"""ASGI entry point: ``daphne project.asgi:application``."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

# Django's handler, except that event streams share one thread instead of one each.
from sse.asgi import get_asgi_application

django_application = get_asgi_application()

from sse.asgi import StaticFilesHandler  # noqa: E402

# The demo serves its own static files (a path leaving the static folders is a 404);
# in production put nginx in front.
application = StaticFilesHandler(django_application)
