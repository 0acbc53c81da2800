"""tests/sse_app for a site whose API takes its own credentials: Django REST framework with
simplejwt access tokens (``Authorization: Bearer``), DRF's ``Token <key>`` and the session.

Streams follow these classes by default (``SSE_AUTHENTICATION_CLASSES`` unset);
``SSE_AUTHENTICATION_CLASSES`` in the environment (a JSON list) names others.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta

from tests.sse_app.settings import *  # noqa: F403
from tests.sse_app.settings import INSTALLED_APPS, REST_FRAMEWORK

INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework.authtoken"]

REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
}

SIMPLE_JWT = {"ACCESS_TOKEN_LIFETIME": timedelta(seconds=float(os.environ.get("JWT_ACCESS_SECONDS", "300")))}

if os.environ.get("SSE_AUTHENTICATION_CLASSES"):
    SSE_AUTHENTICATION_CLASSES = json.loads(os.environ["SSE_AUTHENTICATION_CLASSES"])
