"""Demo data for ``manage.py seed_demo``: a welcome notification for each demo user, once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from notifications.models import Notification
from notifications.services import notify

WELCOME = "Welcome to the live demo"


def seed(stdout: Any) -> None:
    users = get_user_model()._default_manager.filter(username__in=["alice", "bob", "admin"])
    for user in users:
        if Notification.objects.filter(recipient=user, title=WELCOME).exists():
            continue
        notify(
            user,
            WELCOME,
            "New notifications appear here without a reload; the badge in the bar follows them.",
            url="/notifications/",
        )
        stdout.write(f"notification for {user.username}\n")
