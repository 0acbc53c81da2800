"""The demo's settings with django-cors-headers in front, as docs/cross-origin.md adds it."""

from __future__ import annotations

from corsheaders.defaults import default_headers

from tests.site_settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "corsheaders"]  # noqa: F405
MIDDLEWARE = ["corsheaders.middleware.CorsMiddleware", *MIDDLEWARE]  # noqa: F405
CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
CORS_URLS_REGEX = r"^/(sse/stream|api/sse/tokens)/$"
CORS_ALLOW_CREDENTIALS = True
CORS_ALLOW_HEADERS = (*default_headers, "last-event-id")
