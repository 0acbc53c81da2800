"""A project with only ``sse`` installed (plus auth, sessions, DRF, Daphne).

The ``sse`` tests run against it, so they prove the app stands alone. Every
knob the tests turn comes from the environment, because the servers under test
are separate processes.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from pathlib import Path

from tests.settings_blocks import channel_layers, from_environment, redis_url, sqlite_options

BASE_DIR = Path(__file__).resolve().parent

# pytest-django's database is a file too, not SQLite's in-memory test database: that one is
# shared between threads through SQLite's shared cache, whose table locks fail at once instead
# of waiting, and the hub reads the event log on threads of its own (docs/testing.md).
# One per process: several runs may share the machine.
TEST_DATABASE = Path(tempfile.gettempdir()) / f"sse-app-test-{os.getpid()}.sqlite3"


def _remove_test_database() -> None:
    # Threads of the tests (the hub's, asgiref's) hold connections past Django's own cleanup,
    # and the WAL files stay behind: they go with the process.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{TEST_DATABASE}{suffix}").unlink(missing_ok=True)


atexit.register(_remove_test_database)

SECRET_KEY = os.environ.get("SECRET_KEY") or "sse-test-app-secret-key-not-for-production"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "sse",
    "tests.sse_app.apps.SseTestAppConfig",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "tests.sse_app.urls"
# sse's handler, as the README has it (sse.W012 warns about Django's own). The servers of the
# tests run asgi.py (Django's own handler) or streaming_asgi.py, each named on their command line.
ASGI_APPLICATION = "tests.sse_app.streaming_asgi.application"
TEMPLATES: list[dict[str, object]] = []

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SSE_APP_DB") or str(BASE_DIR / "db.sqlite3"),
        # Several servers and a publisher share the file.
        "OPTIONS": sqlite_options(),
        "TEST": {"NAME": str(TEST_DATABASE)},
    }
}

REDIS_URL = redis_url()
CHANNEL_LAYERS = channel_layers(REDIS_URL)

SSE_HEARTBEAT_SECONDS = float(os.environ.get("SSE_HEARTBEAT_SECONDS", "15"))
SSE_TOKEN_MAX_AGE = int(os.environ.get("SSE_TOKEN_MAX_AGE", "300"))
SSE_MAX_STREAMS_PER_USER = int(os.environ.get("SSE_MAX_STREAMS_PER_USER", "0"))
SSE_MAX_STREAMS_PER_PROCESS = int(os.environ.get("SSE_MAX_STREAMS_PER_PROCESS", "0"))
SSE_MAX_LIFETIME_SECONDS = float(os.environ.get("SSE_MAX_LIFETIME_SECONDS", "0"))
# The fan-out test sets this high so events can only arrive through the channel layer.
SSE_LOG_POLL_SECONDS = float(os.environ.get("SSE_LOG_POLL_SECONDS", "0.5"))
# Unset, sse's defaults apply.
globals().update(
    from_environment(
        {"SSE_QUEUE_MAX_FRAMES": int, "SSE_QUEUE_MAX_BYTES": int, "SSE_SEND_TIMEOUT_SECONDS": float}
    )
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
# Fast hashing: the tests create and sign in users many times.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
