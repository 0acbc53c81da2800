from django.apps import AppConfig, apps
from django.core.exceptions import ImproperlyConfigured


class SseConfig(AppConfig):
    name = "sse"
    verbose_name = "Server-sent events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sse import checks  # noqa: F401  (register the system checks)
        from sse.auth import api_credentials  # noqa: F401  (register the system checks)
        from sse.auth.user_signals import connect_signals
        from sse.hub.channel_hub import ChannelHub
        from sse.server import shutdown
        from sse.server.redaction import guard_access_logs

        # Stream tokens travel as ?token=: no server's access log shows them.
        guard_access_logs()
        # SIGTERM/SIGINT and ASGI lifespan shutdown end the running hub's streams cleanly,
        # under any server: the hub and the shutdown know nothing of each other.
        shutdown.register(ChannelHub.running)
        ChannelHub.on_start(shutdown.on_hub_start)
        # User, group and permission changes re-check the streams concerned at once, in every
        # process (a change made in a worker or a shell reaches the servers' streams).
        connect_signals()


def require_installed(module: str) -> None:
    """Raise ``ImproperlyConfigured`` naming the fix when ``'sse'`` is not in ``INSTALLED_APPS``.

    Called where ``module`` is imported (``sse.urls``, ``sse.api.urls``, ``sse.models``): the
    URLconf is loaded by ``manage.py check`` and ``runserver`` before any request, so the
    mistake stops them with this message instead of every stream answering a 500 (Django's
    "Model class sse.models.ChannelHead doesn't declare an explicit app_label"). The app's
    own system checks cannot say it: they are registered by the ``ready()`` above.
    """
    if not apps.is_installed("sse"):
        raise ImproperlyConfigured(
            f"{module} needs the sse app: add 'sse' to INSTALLED_APPS "
            "(INSTALLED_APPS = ['daphne', *INSTALLED_APPS, 'sse', ...]), then run "
            "python manage.py migrate to create its tables."
        )
