from django.apps import AppConfig


class ProjectConfig(AppConfig):
    name = "project"
    verbose_name = "Demo project"

    def ready(self) -> None:
        from project import channels  # noqa: F401  (registers the project's channels)
