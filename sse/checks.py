"""System checks for the mistakes that make streams silently fail."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from sse.conf import conf

_INMEMORY = "channels.layers.InMemoryChannelLayer"


@register(Tags.compatibility)
def check_setup(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    errors: list[Any] = []
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    alias = conf.CHANNEL_LAYER
    if alias not in layers:
        errors.append(
            Error(
                f"No channel layer {alias!r} in CHANNEL_LAYERS.",
                hint="Add CHANNEL_LAYERS = {'default': {'BACKEND': "
                "'channels.layers.InMemoryChannelLayer'}} (one process) or "
                "channels_redis (several processes).",
                id="sse.E001",
            )
        )
    apps = list(settings.INSTALLED_APPS)
    if "daphne" not in apps:
        errors.append(
            Warning(
                "'daphne' is not in INSTALLED_APPS, so runserver serves WSGI and streams never flush.",
                hint="Put 'daphne' first in INSTALLED_APPS and set ASGI_APPLICATION.",
                id="sse.W002",
            )
        )
    elif "django.contrib.staticfiles" in apps and apps.index("daphne") > apps.index(
        "django.contrib.staticfiles"
    ):
        errors.append(
            Error(
                "'daphne' comes after 'django.contrib.staticfiles' in INSTALLED_APPS, "
                "so runserver is the WSGI one.",
                hint="Move 'daphne' above 'django.contrib.staticfiles'.",
                id="sse.E003",
            )
        )
    if "django.middleware.gzip.GZipMiddleware" in getattr(settings, "MIDDLEWARE", []):
        errors.append(
            Warning(
                "GZipMiddleware compresses streaming responses and breaks text/event-stream "
                "(each event becomes its own gzip member, proxies buffer it).",
                hint="Remove GZipMiddleware or exclude event streams from it.",
                id="sse.W004",
            )
        )
    backend = layers.get(alias, {}).get("BACKEND", "")
    if backend == _INMEMORY and os.environ.get("REDIS_URL"):
        errors.append(
            Warning(
                "REDIS_URL is set but the channel layer is the in-memory one: "
                "events published by other processes wait for the event-log poll.",
                hint="Use channels_redis.core.RedisChannelLayer with REDIS_URL.",
                id="sse.W005",
            )
        )
    return errors
