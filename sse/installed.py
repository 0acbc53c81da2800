"""Whether the sse app is installed, and the message naming the fix when it is not.

A bottom module (it imports only Django): ``sse.models``, ``sse.urls``, ``sse.api.urls``
and ``sse.runtime`` use it, and ``sse.apps`` imports them, not the other way.
"""

from __future__ import annotations

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

__all__ = ["not_installed_message", "require_installed"]


def not_installed_message(module: str) -> str:
    return (
        f"{module} needs the sse app: add 'sse' to INSTALLED_APPS "
        "(INSTALLED_APPS = ['daphne', *INSTALLED_APPS, 'sse', ...]), then run "
        "python manage.py migrate to create its tables."
    )


def require_installed(module: str) -> None:
    """Raise ``ImproperlyConfigured`` naming the fix when ``'sse'`` is not in ``INSTALLED_APPS``.

    Called where ``module`` is imported (``sse.urls``, ``sse.api.urls``, ``sse.models``): the
    URLconf is loaded by ``manage.py check`` and ``runserver`` before any request, so the
    mistake stops them with this message instead of every stream answering a 500 (Django's
    "Model class sse.models.ChannelHead doesn't declare an explicit app_label"). The app's
    own system checks cannot say it: they are registered by ``SseConfig.ready()``.
    """
    if not apps.is_installed("sse"):
        raise ImproperlyConfigured(not_installed_message(module))
