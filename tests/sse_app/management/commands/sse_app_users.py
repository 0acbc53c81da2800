"""Create the users the sse tests sign in as (idempotent)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand

PASSWORD = "test"

# username -> (is_staff, may publish through the API)
USERS = {
    "alice": (False, False),
    "bob": (False, False),
    "staff": (True, True),
    "clerk": (True, False),
}


class Command(BaseCommand):
    help = "Create alice, bob (users), staff (staff + sse.publish_event) and clerk (staff only)."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        publish = Permission.objects.get(content_type__app_label="sse", codename="publish_event")
        for username, (is_staff, can_publish) in USERS.items():
            user, _ = User.objects.get_or_create(username=username)
            user.is_staff = is_staff
            user.set_password(PASSWORD)
            user.save()
            if can_publish:
                user.user_permissions.add(publish)
            self.stdout.write(f"{username} {user.pk}")
