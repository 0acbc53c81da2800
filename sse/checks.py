"""System checks for the mistakes that make streams silently fail.

Errors stop ``runserver``, ``migrate`` and every command that runs the checks;
warnings only print. A setting that is missing but not needed everywhere (a
project that serves with ``python -m sse.daphne module:application``, or only
publishes from a worker) is a warning; a setting that is set and wrong is an
error. ``'daphne'`` after ``'django.contrib.staticfiles'`` is Daphne's own
``daphne.E001``.

``sse.W011`` (the event log's tables missing: ``migrate`` not run) needs a database, so it is
tagged ``database``: ``manage.py check --database default`` runs it, ``runserver`` and the
servers do not (Django's own ``runserver`` says "You have N unapplied migration(s)", and every
stream then answers ``503`` naming the fix, with an ERROR in the server's log:
``sse.streams.stream``). ``sse`` missing from ``INSTALLED_APPS`` cannot be a check of this app (its
checks are registered by its ``ready()``): importing ``sse.urls``, ``sse.api.urls`` or
``sse.models`` raises ``ImproperlyConfigured`` instead, so ``manage.py check`` stops there.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.handlers.asgi import ASGIHandler
from django.db import DatabaseError

from sse.channels.registry import registered_patterns
from sse.conf import conf
from sse.server.asgi import StreamingASGIHandler
from sse.transport.layer import backend_is_in_memory

# What each number setting must be when set: an int, or any number (int or float), and
# its range. Every property of sse.conf.Settings has a rule here or in check_settings.
_INT, _NUMBER = "an integer", "a number"
_NUMBER_RULES: dict[str, tuple[str, str]] = {
    "SSE_RETRY_MS": (_INT, ">= 0"),
    "SSE_OVER_CAPACITY_RETRY_MS": (_INT, ">= 0"),
    "SSE_MAX_STREAMS_PER_USER": (_INT, ">= 0"),
    "SSE_MAX_STREAMS_PER_PROCESS": (_INT, ">= 0"),
    "SSE_REQUEST_THREADS": (_INT, ">= 0"),
    "SSE_REPLAYS_PER_USER": (_INT, ">= 0"),
    "SSE_REPLAYS_PER_PROCESS": (_INT, ">= 0"),
    "SSE_SHUTDOWN_RETRY_SPREAD_MS": (_INT, ">= 0"),
    "SSE_LISTEN_BACKLOG": (_INT, "> 0"),
    "SSE_GC_THRESHOLD": (_INT, ">= 0"),
    "SSE_LOG_MAX_AGE_SECONDS": (_INT, ">= 0"),
    "SSE_LOG_MAX_EVENTS_PER_CHANNEL": (_INT, ">= 0"),
    "SSE_QUEUE_MAX_FRAMES": (_INT, "> 0"),
    "SSE_QUEUE_MAX_BYTES": (_INT, "> 0"),
    "SSE_TOKEN_MAX_AGE": (_INT, "> 0"),
    "SSE_MAX_EVENT_BYTES": (_INT, "> 0"),
    "SSE_HEARTBEAT_SECONDS": (_NUMBER, "> 0"),
    "SSE_SEND_TIMEOUT_SECONDS": (_NUMBER, "> 0"),
    "SSE_LOG_POLL_SECONDS": (_NUMBER, "> 0"),
    "SSE_GROUP_REFRESH_SECONDS": (_NUMBER, "> 0"),
    "SSE_LOG_TRIM_INTERVAL_SECONDS": (_NUMBER, "> 0"),
    "SSE_ACCESS_RECHECK_SECONDS": (_NUMBER, "> 0"),
    "SSE_MAX_LIFETIME_SECONDS": (_NUMBER, ">= 0"),
    "SSE_SHUTDOWN_GRACE_SECONDS": (_NUMBER, ">= 0"),
    "SSE_MAX_LIFETIME_JITTER": (_NUMBER, "between 0 and 1"),
    "SSE_REPLAY_SHARE": (_NUMBER, "above 0, at most 1"),
}
_IN_RANGE = {
    ">= 0": lambda value: value >= 0,
    "> 0": lambda value: value > 0,
    "between 0 and 1": lambda value: 0 <= value <= 1,
    "above 0, at most 1": lambda value: 0 < value <= 1,
}
_EVENT_LOG_KEYS = ("BACKEND", "OPTIONS")
_UNSET = object()


@register(Tags.compatibility)
def check_setup(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    alias = conf.SSE_CHANNEL_LAYER
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
    if "daphne" not in settings.INSTALLED_APPS:
        errors.append(
            Warning(
                "'daphne' is not in INSTALLED_APPS, so runserver is Django's WSGI server, which "
                "cannot serve an event stream: every stream a rule allows is answered "
                "500 'A server error occurred' (RuntimeError: Event loop is closed, in the "
                "server's console), so the page never gets an event; refusals (401, 403, 404) "
                "still come through, so access looks fine.",
                hint="Put 'daphne' first in INSTALLED_APPS: its runserver is the ASGI one (it reads "
                "ASGI_APPLICATION). Serve production with an ASGI server too "
                f"(python -m sse.daphne {_project_asgi_module()}:application), never a WSGI one.",
                id="sse.W002",
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
    redis_url = _redis_url()
    if backend_is_in_memory(backend) and redis_url:
        errors.append(
            Warning(
                f"REDIS_URL is set ({redis_url}) but the channel layer is the in-memory one: "
                "events published by other processes wait for the event-log poll "
                f"(SSE_LOG_POLL_SECONDS), and Redis is never used.",
                hint="Use channels_redis.core.RedisChannelLayer with REDIS_URL: "
                f"CHANNEL_LAYERS = {{{alias!r}: {{'BACKEND': 'channels_redis.core.RedisChannelLayer', "
                "'CONFIG': {'hosts': [REDIS_URL]}}}.",
                id="sse.W005",
            )
        )
    if not registered_patterns():
        errors.append(
            Warning(
                "No channel rules are registered, so every stream and every stream token "
                "is refused: 403 'not allowed to read channel ...'.",
                hint="Register rules with @sse.channel('pattern') in a module that your app's "
                "AppConfig.ready() imports (def ready(self): from yourapp import channels); "
                "a module nothing imports never registers its rules. Silence this check "
                "(SILENCED_SYSTEM_CHECKS = ['sse.W006']) in a project that only publishes.",
                id="sse.W006",
            )
        )
    errors.extend(_check_asgi_application())
    return errors


def _redis_url() -> str:
    """Where REDIS_URL is set, settings first, then the environment; empty when neither."""
    for name, value in (
        ("settings.REDIS_URL", getattr(settings, "REDIS_URL", None)),
        ("in the environment", os.environ.get("REDIS_URL")),
    ):
        if isinstance(value, str) and value.strip():
            return name
    return ""


@register(Tags.database)
def check_event_log_tables(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """``sse.W011``: the event log's tables are missing (``manage.py migrate`` was not run).

    Runs with ``manage.py check --database default``; not inside ``migrate`` (Django runs the
    database checks there too, just before it creates the tables).
    """
    if not databases or _running_migrate():
        return []
    from sse.storage import get_event_log

    try:
        log = get_event_log()
    except Exception:  # SSE_EVENT_LOG is wrong: sse.E010 says so
        return []
    using = getattr(log, "using", None)
    if using is not None and using not in databases:
        return []
    try:
        problem = log.setup_problem()
    except DatabaseError:  # a database that cannot be reached: not this check's to report
        return []
    if problem is None:
        return []
    return [
        Warning(
            problem[0].upper() + problem[1:] + ". Every stream answers 503 until then, and publish() fails.",
            hint="sse's migrations create them: a new database, or a project that added 'sse' "
            "to INSTALLED_APPS after its last migrate, needs the command named above.",
            id="sse.W011",
        )
    ]


def _running_migrate() -> bool:
    """Whether this check runs inside ``manage.py migrate`` (before its own work)."""
    from django.core.management.commands.migrate import Command as Migrate

    frame = sys._getframe(1)
    while frame is not None:
        if isinstance(frame.f_locals.get("self"), Migrate):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``sse.E010`` for each ``SSE_*`` setting that is set to a value of the wrong type or range."""
    problems: list[str] = []
    for name, (kind, bound) in _NUMBER_RULES.items():
        if hasattr(settings, name):
            problems.extend(_number_problems(name, getattr(settings, name), kind, bound))
    layer = _configured("SSE_CHANNEL_LAYER")
    if layer is not _UNSET and not isinstance(layer, str):
        problems.append(_wrong_type("SSE_CHANNEL_LAYER", layer, "a str (a CHANNEL_LAYERS alias)"))
    stream_paths = _configured("SSE_STREAM_PATHS")
    if stream_paths is not _UNSET:
        problems.extend(_stream_paths_problems(stream_paths))
    event_log = _configured("SSE_EVENT_LOG")
    if event_log is not _UNSET:
        problems.extend(_event_log_problems(event_log))
    return [
        Error(
            problem,
            hint="Give it a value of the type and range named, or delete it to get its default. "
            "Settings are Python values: convert what comes from the environment in settings.py "
            "(SSE_RETRY_MS = int(os.environ['SSE_RETRY_MS'])).",
            id="sse.E010",
        )
        for problem in problems
    ]


def _a_type(value: object) -> str:
    """``'an int'``, ``'a str'``: the type of ``value`` with its article."""
    name = type(value).__name__
    return f"{'an' if name[:1] in 'aeiouAEIOU' else 'a'} {name}"


def _configured(name: str) -> object:
    """The project's value of setting ``name``, or ``_UNSET`` (the settings' type knows no SSE_* name)."""
    return getattr(settings, name, _UNSET)


def _wrong_type(name: str, value: object, expected: str) -> str:
    return f"{name} = {value!r} is {_a_type(value)}; expected {expected}."


def _number_problems(name: str, value: object, kind: str, bound: str) -> list[str]:
    expected = f"{kind} {bound}"
    allowed = (int,) if kind == _INT else (int, float)
    if isinstance(value, bool) or not isinstance(value, allowed):
        return [_wrong_type(name, value, expected)]
    if not _IN_RANGE[bound](value):
        return [f"{name} = {value!r} is out of range; expected {expected}."]
    return []


def _stream_paths_problems(value: object) -> list[str]:
    expected = "a list or tuple of regular expressions"
    if not isinstance(value, list | tuple):
        # A bare string would be read one character at a time: nearly every path a stream.
        return [_wrong_type("SSE_STREAM_PATHS", value, expected)]
    problems = []
    for index, pattern in enumerate(value):
        name = f"SSE_STREAM_PATHS[{index}]"
        if not isinstance(pattern, str):
            problems.append(_wrong_type(name, pattern, "a regular expression (a str)"))
            continue
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(f"{name} = {pattern!r} is not a valid regular expression: {exc}.")
    return problems


def _event_log_problems(value: object) -> list[str]:
    expected = "a dict {'BACKEND': 'dotted.path.EventLog', 'OPTIONS': {...}}"
    if value is None:
        return []
    if not isinstance(value, dict):
        return [_wrong_type("SSE_EVENT_LOG", value, expected)]
    problems = [
        f"SSE_EVENT_LOG has an unknown key {key!r}; expected {expected}."
        for key in value
        if key not in _EVENT_LOG_KEYS
    ]
    options = value.get("OPTIONS", {})
    if not isinstance(options, dict):
        problems.append(_wrong_type("SSE_EVENT_LOG['OPTIONS']", options, "a dict of the backend's arguments"))
    backend = value.get("BACKEND")
    if backend is None:
        return problems
    name = "SSE_EVENT_LOG['BACKEND']"
    if not isinstance(backend, str):
        problems.append(_wrong_type(name, backend, "the dotted path of an EventLog class"))
        return problems
    path, _, attribute = backend.rpartition(".")
    if not path or not attribute:
        problems.append(f"{name} = {backend!r} is not a dotted path 'module.EventLogClass'.")
        return problems
    loaded, reason = _load(path, attribute)
    if reason:
        problems.append(f"{name} = {backend!r} cannot be imported: {reason}; expected an EventLog class.")
    elif not callable(loaded):
        problems.append(f"{name} = {backend!r} is {_a_type(loaded)}; expected an EventLog class.")
    return problems


def _project_asgi_module() -> str:
    """Where ``startproject`` put this project's asgi.py, judging by its settings module."""
    # override_settings hides SETTINGS_MODULE (None): the environment still has it.
    found = getattr(settings, "SETTINGS_MODULE", None) or os.environ.get("DJANGO_SETTINGS_MODULE")
    parts = (found or "mysite.settings").split(".")[:-1]
    if parts and parts[-1] == "settings":  # a settings package: mysite/settings/production.py
        parts.pop()
    return ".".join([*parts, "asgi"])


def _asgi_recipe(module: str) -> str:
    return (
        f"ASGI_APPLICATION = '{module}.application', with {module.replace('.', '/')}.py ending in: "
        "from sse.asgi import get_asgi_application; application = get_asgi_application()."
    )


def _check_asgi_application() -> list[CheckMessage]:
    module = _project_asgi_module()
    value = getattr(settings, "ASGI_APPLICATION", None)
    if value is None:
        return [
            Warning(
                "ASGI_APPLICATION is not set: Daphne's runserver refuses to start without it "
                "('You have not set ASGI_APPLICATION'), and streams need an ASGI server.",
                hint=f"Set {_asgi_recipe(module)} A warning, not an error: a project served by "
                f"'python -m sse.daphne {module}:application', or one that only publishes from a "
                "worker, needs no such setting, and its migrate must not fail "
                "(silence it there: SILENCED_SYSTEM_CHECKS = ['sse.W007']).",
                id="sse.W007",
            )
        ]
    hint = (
        f"This project's own is most likely {_asgi_recipe(module)} An error, not a warning: "
        "set and wrong, it lets Daphne's runserver print 'Starting ASGI/Daphne' and then die "
        "loading it. A project that serves no streams can delete the setting."
    )
    path, _, name = value.rpartition(".") if isinstance(value, str) else ("", "", "")
    if not path or not name:
        return [
            Error(
                f"ASGI_APPLICATION = {value!r} is not a dotted path 'module.name'.", hint=hint, id="sse.E008"
            )
        ]
    application, reason = _load(path, name)
    if reason:
        return [
            Error(f"ASGI_APPLICATION = {value!r} cannot be imported: {reason}.", hint=hint, id="sse.E008")
        ]
    if not callable(application):
        return [
            Error(
                f"ASGI_APPLICATION = {value!r} is a {type(application).__name__}, not an ASGI "
                "application: it is not callable.",
                hint=hint,
                id="sse.E009",
            )
        ]
    stock = _stock_django_handler(application)
    if stock is not None:
        return [
            Warning(
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
        ]
    return []


# Where ASGI wrappers keep the application they wrap: Channels' ProtocolTypeRouter
# (application_mapping), its middleware (inner), static files handlers (application).
_WRAPPED = ("application", "app", "inner")


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


def _load(path: str, name: str) -> tuple[object, str]:
    """``path.name`` imported, or why it cannot be."""
    try:
        module = importlib.import_module(path)
    except ModuleNotFoundError as exc:
        if exc.name and (path == exc.name or path.startswith(exc.name + ".")):
            return None, f"there is no module {exc.name!r}"
        # The module exists; something it imports does not.
        return None, f"importing {path!r} raised ModuleNotFoundError: {exc}"
    except Exception as exc:
        return None, f"importing {path!r} raised {type(exc).__name__}: {exc}"
    if not hasattr(module, name):
        return None, f"module {path!r} has no attribute {name!r}"
    return getattr(module, name), ""
