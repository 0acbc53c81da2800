"""Settings of the demo project; every knob comes from the environment (README)."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


DEBUG = _env_bool("DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY") or "insecure-development-key-set-SECRET_KEY-in-production"
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()
]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "sse",
    "notifications",
    "chat",
    "jobs",
    "django_tasks_db",
    "project.apps.ProjectConfig",
]

MIDDLEWARE = [
    # First, not among the MiddlewareMixin ones: sse.asgi runs a run of those in one thread
    # hop, and a function middleware between them would split it in two (two more hops for
    # every request, a stream's included). It needs nothing of theirs: a cookie and the path.
    "project.middleware.time_zone_middleware",
    "django.middleware.security.SecurityMiddleware",
    "project.middleware.ServiceUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        # Kept open between requests by the threads sse.server.asgi runs requests and
        # streams on (a new connection per request costs more than most requests).
        conn_max_age=60,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes write the event log: wait for the lock instead of failing,
    # take it at BEGIN, and let readers run beside the writer (WAL). The test projects
    # share these two blocks through tests/settings_blocks.py, kept equal to these by
    # tests/test_settings_blocks.py.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # channels_redis blocks up to 5 s per receive, and redis-py >= 8 reads with a
            # 5 s socket timeout by default: an idle receive() would time out client-side
            # (a layer error, and a pop racing the disconnect is lost). Give it room.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}], "capacity": 1000},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Jobs (docs/jobs.md): with Redis they run in separate `manage.py db_worker` processes
# (django-tasks-db); without, on threads inside the server process.
if REDIS_URL:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
else:
    TASKS = {"default": {"BACKEND": "jobs.backends.EmbeddedBackend"}}
JOBS_PROGRESS_INTERVAL = float(os.environ.get("JOBS_PROGRESS_INTERVAL", "0.1"))
JOBS_STREAM_MAX_RATE = float(os.environ.get("JOBS_STREAM_MAX_RATE", "4"))
JOBS_STALE_SECONDS = float(os.environ.get("JOBS_STALE_SECONDS", "30"))
JOBS_EMBEDDED_WORKERS = _env_int("JOBS_EMBEDDED_WORKERS", 2)

# The home page's "send me a notification": at most this many per user in any window.
TRY_NOTIFICATION_LIMIT = _env_int("TRY_NOTIFICATION_LIMIT", 5)
TRY_NOTIFICATION_WINDOW_SECONDS = _env_int("TRY_NOTIFICATION_WINDOW_SECONDS", 60)

SSE_MAX_STREAMS_PER_USER = _env_int("SSE_MAX_STREAMS_PER_USER", 50)
SSE_MAX_STREAMS_PER_PROCESS = _env_int("SSE_MAX_STREAMS_PER_PROCESS", 20000)
SSE_HEARTBEAT_SECONDS = float(os.environ.get("SSE_HEARTBEAT_SECONDS", "15"))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Bodies nested too deep or holding invalid Unicode: 400, not a 500 or a stored record.
    "DEFAULT_PARSER_CLASSES": [
        "sse.api.guards.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Errors as JSON: the database down is a 503 with Retry-After, never Django's HTML page.
    "EXCEPTION_HANDLER": "sse.api.guards.exception_handler",
}

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"sse": {"level": os.environ.get("SSE_LOG_LEVEL", "INFO")}},
}
