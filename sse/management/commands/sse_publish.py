from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sse.publishing.publish import publish
from sse.storage import get_event_log
from sse.transport.layer import get_layer, reaches_other_processes


class Command(BaseCommand):
    help = "Publish one event to a channel, from the command line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("channel")
        parser.add_argument("data", help='JSON text, e.g. \'{"title": "hi"}\'')
        parser.add_argument("--event", default=None, help="event name (default: message)")

    def handle(self, *args: Any, channel: str, data: str, event: str | None, **options: Any) -> None:
        try:
            value = json.loads(data)
        except json.JSONDecodeError as exc:
            raise CommandError(f"data is not valid JSON: {exc}") from None
        layer = get_layer()
        if layer is None:
            raise CommandError("no channel layer configured: set CHANNEL_LAYERS (check sse.E001)")
        if not reaches_other_processes(layer) and not get_event_log().shared_between_processes:
            raise CommandError(
                "the in-memory channel layer cannot reach the server process and the event "
                "log is not shared: set REDIS_URL (channels_redis) or use the database event log"
            )
        try:
            event_id = publish(channel, value, event=event)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(event_id)
