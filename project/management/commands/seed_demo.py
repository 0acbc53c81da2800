from __future__ import annotations

import os
from importlib import import_module
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction


class Command(BaseCommand):
    help = "Create the demo users (alice, bob, admin); safe to run again."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("DEMO_PASSWORD", "demo")
        User = get_user_model()
        for username, staff in (("alice", False), ("bob", False), ("admin", True)):
            user, created = User.objects.get_or_create(username=username)
            user.is_staff = staff
            user.is_superuser = staff
            user.is_active = True
            # A new hash signs out every session of the user: keep a password that still matches.
            if not user.check_password(password):
                user.set_password(password)
            user.save()
            self.stdout.write(f"{'created' if created else 'updated'} user {username}")
        # Each demo app may seed its own data: a module-level seed(stdout) in <app>/seed.py.
        for app in ("notifications", "chat", "jobs"):
            if apps.is_installed(app):
                try:
                    module = import_module(f"{app}.seed")
                except ModuleNotFoundError:
                    continue
                module.seed(self.stdout)
