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
ASGI_APPLICATION = "tests.sse_app.asgi.application"
TEMPLATES: list[dict[str, object]] = []

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SSE_APP_DB") or str(BASE_DIR / "db.sqlite3"),
        # Several servers and a publisher share the file: wait for the lock,
        # take it at BEGIN, and let readers run beside the writer.
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        "TEST": {"NAME": str(TEST_DATABASE)},
    }
}

REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py >= 8 reads with a 5 s socket timeout by default, the same as
            # channels_redis's 5 s blocking pop: an idle receive() would time out
            # client-side (a layer error, and a pop racing the disconnect is lost).
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}], "capacity": 1000},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

SSE_HEARTBEAT_SECONDS = float(os.environ.get("SSE_HEARTBEAT_SECONDS", "15"))
SSE_TOKEN_MAX_AGE = int(os.environ.get("SSE_TOKEN_MAX_AGE", "300"))
SSE_MAX_STREAMS_PER_USER = int(os.environ.get("SSE_MAX_STREAMS_PER_USER", "0"))
SSE_MAX_STREAMS_PER_PROCESS = int(os.environ.get("SSE_MAX_STREAMS_PER_PROCESS", "0"))
SSE_MAX_LIFETIME_SECONDS = float(os.environ.get("SSE_MAX_LIFETIME_SECONDS", "0"))
# The fan-out test sets this high so events can only arrive through the channel layer.
SSE_LOG_POLL_SECONDS = float(os.environ.get("SSE_LOG_POLL_SECONDS", "0.5"))

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
