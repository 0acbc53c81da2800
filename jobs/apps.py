from django.apps import AppConfig
from django.core.signals import request_started


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Background jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Models can be imported only now; these register the kinds and the channel rules.
        from jobs import builtin_kinds, channels, sweeper  # noqa: F401

        # The one place the sweeper starts: with the first request this process serves.
        request_started.connect(sweeper.start_with_requests, dispatch_uid="jobs.sweeper")
