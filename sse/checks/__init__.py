"""System checks for the mistakes that make streams silently fail.

Errors stop ``runserver``, ``migrate``, ``python -m sse.daphne`` and every command that runs
the checks; warnings only print. A setting that is missing but not needed everywhere (a
project that serves with ``python -m sse.daphne module:application``, or only publishes from a
worker) is a warning; a setting that is set and wrong is an error. ``'daphne'`` after
``'django.contrib.staticfiles'`` is Daphne's own ``daphne.E001``.

- ``settings``: each ``SSE_*`` setting with its own id, ``sse.E101`` on (from ``sse.conf``'s table);
- ``setup``: the channel layer, ``daphne`` installed, middleware, Redis, channel rules
  (``sse.E001``, ``sse.W002``, ``sse.W004``-``sse.W006``);
- ``asgi_app``: ``ASGI_APPLICATION`` (``sse.W007``, ``sse.E008``, ``sse.E009``, ``sse.W012``);
- ``database``: the event log's tables (``sse.W011``, a database check).

``sse`` missing from ``INSTALLED_APPS`` cannot be a check of this app (its checks are
registered by its ``ready()``, which imports this package): importing ``sse.urls``,
``sse.api.urls`` or ``sse.models`` raises ``ImproperlyConfigured`` instead, so
``manage.py check`` stops there.
"""

from __future__ import annotations

from sse.checks.asgi_app import check_asgi_application, project_asgi_module
from sse.checks.database import check_event_log_tables
from sse.checks.settings import check_settings
from sse.checks.setup import check_setup

__all__ = [
    "check_asgi_application",
    "check_event_log_tables",
    "check_settings",
    "check_setup",
    "project_asgi_module",
]
