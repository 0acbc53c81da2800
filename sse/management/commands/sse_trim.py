from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sse.hub.log_threads import trim_log


class Command(BaseCommand):
    help = "Delete logged events past retention (SSE_LOG_MAX_AGE_SECONDS, SSE_LOG_MAX_EVENTS_PER_CHANNEL)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"deleted {trim_log()} events")
