"""``python -m sse.daphne tests.bundler.asgi:application``: tests/sse_app, with its static files."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.bundler.settings")

from sse.asgi import get_asgi_application
from sse.server.staticfiles import StaticFilesHandler

application = StaticFilesHandler(get_asgi_application())
