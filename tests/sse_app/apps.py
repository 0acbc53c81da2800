from django.apps import AppConfig


class SseTestAppConfig(AppConfig):
    name = "tests.sse_app"
    label = "sse_app"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tests.sse_app import channels  # noqa: F401  (registers the test channels)
