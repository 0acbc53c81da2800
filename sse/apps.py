from django.apps import AppConfig


class SseConfig(AppConfig):
    name = "sse"
    verbose_name = "Server-sent events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sse import checks  # noqa: F401  (registers the system checks)
        from sse.redaction import guard_access_logs

        # Stream tokens travel as ?token=: no server's access log shows them.
        guard_access_logs()
