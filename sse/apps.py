"""The app's config: it holds the process's runtime (``sse.runtime``) and connects its signals."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from django.apps import AppConfig, apps

from sse.installed import require_installed

if TYPE_CHECKING:
    from sse.runtime import Runtime

__all__ = ["SseConfig", "require_installed"]  # require_installed: now sse.installed's


class SseConfig(AppConfig):
    name = "sse"
    verbose_name = "Server-sent events"
    default_auto_field = "django.db.models.BigAutoField"

    def __init__(self, app_name: str, app_module: ModuleType | None) -> None:
        from sse.runtime import Runtime

        super().__init__(app_name, app_module)
        # Made here, not in ready(): apps' modules imported before this ready() (models,
        # other apps' ready()) register channels into it. Held by this config, so sse keeps
        # no module-level state (sse.runtime.get() finds it through the app registry).
        self.runtime: Runtime = self._outer_runtime() or Runtime()

    @staticmethod
    def _outer_runtime() -> Runtime | None:
        """The runtime of the app configs that ``override_settings(INSTALLED_APPS=...)`` set
        aside while it makes new ones: the process is the same (its channels, registered
        when their modules were imported, its hub and its log)."""
        for configs in reversed(apps.stored_app_configs):
            outer = configs.get("sse")
            if isinstance(outer, SseConfig):
                return outer.runtime
        return None

    def ready(self) -> None:
        from django.core.signals import request_started, setting_changed

        from sse import checks  # noqa: F401  (register the system checks: sse/checks/)
        from sse.auth.user_signals import connect_signals
        from sse.hub.channel_hub import ChannelHub
        from sse.server import shutdown
        from sse.server.redaction import guard_access_logs
        from sse.storage import forget_log_on_change, learn_log_id_first

        # Stream tokens travel as ?token=: no server's access log shows them.
        guard_access_logs()
        # SIGTERM/SIGINT and ASGI lifespan shutdown end the running hub's streams cleanly,
        # under any server: the hub and the shutdown know nothing of each other.
        shutdown.register(ChannelHub.running)
        ChannelHub.on_start(shutdown.on_hub_start)
        # User, group and permission changes re-check the streams concerned at once, in every
        # process (a change made in a worker or a shell reaches the servers' streams).
        connect_signals()
        # Before the first view of a process runs, read the log's name (an app's async view
        # may build ids at once, with no database access of its own).
        request_started.connect(learn_log_id_first, dispatch_uid="sse.learn_log_id")
        setting_changed.connect(forget_log_on_change, dispatch_uid="sse.forget_log")
