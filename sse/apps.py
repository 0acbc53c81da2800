from django.apps import AppConfig


class SseConfig(AppConfig):
    name = "sse"
    verbose_name = "Server-sent events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sse import checks  # noqa: F401  (registers the system checks)
