from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class DeliveryTestsConfig(AppConfig):
    """Channels the delivery tests publish on: ``test.<anything>``, readable when signed in."""

    name = "tests.delivery"
    label = "delivery_tests"

    def ready(self) -> None:
        import sse

        def signed_in(user: Any, name: str) -> bool:
            return bool(user.is_authenticated)

        sse.register_channel("test.{name}", signed_in)
