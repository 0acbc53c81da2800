"""``ASGI_APPLICATION``: unset (``sse.W007``), wrong (``sse.E008``, ``sse.E009``), or Django's
own handler, which holds a thread per open stream (``sse.W012``).

Not registered on its own: ``sse.checks.setup.check_setup`` runs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.core.handlers.asgi import ASGIHandler

from sse.conf import Settings
from sse.conf.kinds import load
from sse.server.asgi import StreamingASGIHandler

# Where ASGI wrappers keep the application they wrap: Channels' ProtocolTypeRouter
# (application_mapping), its middleware (inner), static files handlers (application).
_WRAPPED = ("application", "app", "inner")


def project_asgi_module() -> str:
    """Where ``startproject`` put this project's asgi.py, judging by its settings module."""
    # override_settings hides SETTINGS_MODULE (None): the environment still has it.
    found = getattr(settings, "SETTINGS_MODULE", None) or os.environ.get("DJANGO_SETTINGS_MODULE")
    parts = (found or "mysite.settings").split(".")[:-1]
    if parts and parts[-1] == "settings":  # a settings package: mysite/settings/production.py
        parts.pop()
    return ".".join([*parts, "asgi"])


def _recipe(module: str) -> str:
    return (
        f"ASGI_APPLICATION = '{module}.application', with {module.replace('.', '/')}.py ending in: "
        "from sse.asgi import get_asgi_application; application = get_asgi_application()."
    )


def check_asgi_application() -> list[CheckMessage]:
    module = project_asgi_module()
    value = getattr(settings, "ASGI_APPLICATION", None)
    if value is None:
        return [_unset(module)]
    hint = (
        f"This project's own is most likely {_recipe(module)} An error, not a warning: "
        "set and wrong, it lets Daphne's runserver print 'Starting ASGI/Daphne' and then die "
        "loading it. A project that serves no streams can delete the setting."
    )
    path, _, name = value.rpartition(".") if isinstance(value, str) else ("", "", "")
    if not path or not name:
        message = f"ASGI_APPLICATION = {value!r} is not a dotted path 'module.name'."
        return [Error(message, hint=hint, id="sse.E008")]
    if any(row.problems() for row in Settings.table()):
        # Loading it would stop at sse's own settings (get_asgi_application() validates
        # them), which their checks (sse.E101-) already report, each with its own id.
        return []
    application, reason = load(path, name)
    if reason:
        message = f"ASGI_APPLICATION = {value!r} cannot be imported: {reason}."
        return [Error(message, hint=hint, id="sse.E008")]
    if not callable(application):
        kind = type(application).__name__
        message = f"ASGI_APPLICATION = {value!r} is a {kind}, not an ASGI application: it is not callable."
        return [Error(message, hint=hint, id="sse.E009")]
    stock = _stock_django_handler(application)
    return [] if stock is None else [_stock_handler(value, stock, module)]


def _unset(module: str) -> CheckMessage:
    return Warning(
        "ASGI_APPLICATION is not set: Daphne's runserver refuses to start without it "
        "('You have not set ASGI_APPLICATION'), and streams need an ASGI server.",
        hint=f"Set {_recipe(module)} A warning, not an error: a project served by "
        f"'python -m sse.daphne {module}:application', or one that only publishes from a "
        "worker, needs no such setting, and its migrate must not fail "
        "(silence it there: SILENCED_SYSTEM_CHECKS = ['sse.W007']).",
        id="sse.W007",
    )


def _stock_handler(value: str, stock: ASGIHandler, module: str) -> CheckMessage:
    return Warning(
        f"ASGI_APPLICATION = {value!r} serves HTTP with Django's own ASGI handler "
        f"({type(stock).__module__}.{type(stock).__name__}, from "
        "django.core.asgi.get_asgi_application()), which holds an OS thread for each "
        "request as long as it lasts: every open stream is an idle thread "
        "(100 streams, 100 threads).",
        hint=f"In {module.replace('.', '/')}.py, use sse's: from sse.asgi import "
        "get_asgi_application; application = get_asgi_application() (inside a "
        "ProtocolTypeRouter too: {'http': get_asgi_application(), ...}). Streams then "
        "share one thread for their short sync work.",
        id="sse.W012",
    )


def _wrapped_apps(application: object) -> Iterator[object]:
    mapping = getattr(application, "application_mapping", None)
    if isinstance(mapping, dict):
        yield from mapping.values()
    for name in _WRAPPED:
        inner = getattr(application, name, None)
        if inner is not None and inner is not application:
            yield inner


def _stock_django_handler(application: object, depth: int = 0) -> ASGIHandler | None:
    """Django's own ASGI handler, found in ``application`` or what it wraps; ``None`` if
    sse's (``StreamingASGIHandler``) serves it, or neither is found."""
    if isinstance(application, StreamingASGIHandler):
        return None
    wrapped = list(_wrapped_apps(application)) if depth < 5 else []
    if wrapped:
        # A wrapper (static files handlers are ASGIHandlers too): what it wraps decides.
        for inner in wrapped:
            found = _stock_django_handler(inner, depth + 1)
            if found is not None:
                return found
        return None
    return application if isinstance(application, ASGIHandler) else None
