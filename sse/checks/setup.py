"""How the project is put together: channel layer, server, middleware, Redis, channel rules.

``check_setup`` also runs ``sse.checks.asgi_app``'s checks, so one call says everything wrong
with the set-up (the settings' own checks are ``sse.checks.settings``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from sse.channels.registry import registered_patterns
from sse.checks.asgi_app import check_asgi_application, project_asgi_module
from sse.conf import conf
from sse.transport.layer import backend_is_in_memory


@register(Tags.compatibility)
def check_setup(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    checks: tuple[Callable[[], CheckMessage | None], ...] = (
        _channel_layer,
        _daphne_installed,
        _gzip_middleware,
        _redis_unused,
        _channel_rules,
    )
    found = [message for check in checks if (message := check()) is not None]
    return found + check_asgi_application()


def _layer_alias() -> str | None:
    """``SSE_CHANNEL_LAYER``, or None when it is wrong (sse.E128 says so)."""
    try:
        return conf.SSE_CHANNEL_LAYER
    except ImproperlyConfigured:
        return None


def _channel_layer() -> CheckMessage | None:
    alias = _layer_alias()
    if alias is None or alias in (getattr(settings, "CHANNEL_LAYERS", None) or {}):
        return None
    return Error(
        f"No channel layer {alias!r} in CHANNEL_LAYERS.",
        hint="Add CHANNEL_LAYERS = {'default': {'BACKEND': "
        "'channels.layers.InMemoryChannelLayer'}} (one process) or "
        "channels_redis (several processes).",
        id="sse.E001",
    )


def _daphne_installed() -> CheckMessage | None:
    if "daphne" in settings.INSTALLED_APPS:
        return None
    return Warning(
        "'daphne' is not in INSTALLED_APPS, so runserver is Django's WSGI server, which "
        "cannot serve an event stream: every stream a rule allows is answered "
        "500 'A server error occurred' (RuntimeError: Event loop is closed, in the "
        "server's console), so the page never gets an event; refusals (401, 403, 404) "
        "still come through, so access looks fine.",
        hint="Put 'daphne' first in INSTALLED_APPS: its runserver is the ASGI one (it reads "
        "ASGI_APPLICATION). Serve production with an ASGI server too "
        f"(python -m sse.daphne {project_asgi_module()}:application), never a WSGI one.",
        id="sse.W002",
    )


def _gzip_middleware() -> CheckMessage | None:
    if "django.middleware.gzip.GZipMiddleware" not in getattr(settings, "MIDDLEWARE", []):
        return None
    return Warning(
        "GZipMiddleware compresses streaming responses and breaks text/event-stream "
        "(each event becomes its own gzip member, proxies buffer it).",
        hint="Remove GZipMiddleware or exclude event streams from it.",
        id="sse.W004",
    )


def _redis_unused() -> CheckMessage | None:
    alias = _layer_alias()
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    backend = layers.get(alias, {}).get("BACKEND", "")
    redis_url = _redis_url()
    if not (backend_is_in_memory(backend) and redis_url):
        return None
    return Warning(
        f"REDIS_URL is set ({redis_url}) but the channel layer is the in-memory one: "
        "events published by other processes wait for the event-log poll "
        f"(SSE_LOG_POLL_SECONDS), and Redis is never used.",
        hint="Use channels_redis.core.RedisChannelLayer with REDIS_URL: "
        f"CHANNEL_LAYERS = {{{alias!r}: {{'BACKEND': 'channels_redis.core.RedisChannelLayer', "
        "'CONFIG': {'hosts': [REDIS_URL]}}}.",
        id="sse.W005",
    )


def _redis_url() -> str:
    """Where REDIS_URL is set, settings first, then the environment; empty when neither."""
    for name, value in (
        ("settings.REDIS_URL", getattr(settings, "REDIS_URL", None)),
        ("in the environment", os.environ.get("REDIS_URL")),
    ):
        if isinstance(value, str) and value.strip():
            return name
    return ""


def _channel_rules() -> CheckMessage | None:
    if registered_patterns():
        return None
    return Warning(
        "No channel rules are registered, so every stream and every stream token "
        "is refused: 403 'not allowed to read channel ...'.",
        hint="Register rules with @sse.channel('pattern') in a module that your app's "
        "AppConfig.ready() imports (def ready(self): from yourapp import channels); "
        "a module nothing imports never registers its rules. Silence this check "
        "(SILENCED_SYSTEM_CHECKS = ['sse.W006']) in a project that only publishes.",
        id="sse.W006",
    )
