"""tests/sse_app serving, besides its streams, the static folder of a bundled front end.

``BUNDLE_STATIC`` (set by tests/bundler/test_esm.py) is a temporary folder holding the page
and the bundle esbuild made; ``sse``'s own static files (sse.mjs, sse.js) are served too.
"""

from __future__ import annotations

import os

from tests.sse_app.settings import *  # noqa: F403
from tests.sse_app.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django.contrib.staticfiles"]
STATIC_URL = "static/"
STATICFILES_DIRS = [os.environ["BUNDLE_STATIC"]]
