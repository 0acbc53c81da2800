"""Broadcast dismissals stored per user, and the default expiry (also for broadcasts already saved)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from notifications.conf import broadcast_ttl


def expire_open_ended(apps, schema_editor):
    # Broadcasts saved without an expiry showed on every page for ever: give them the default.
    ttl = broadcast_ttl()
    if ttl is None:
        return
    Broadcast = apps.get_model("notifications", "Broadcast")
    for broadcast in Broadcast.objects.filter(expires_at__isnull=True).only("pk", "created"):
        Broadcast.objects.filter(pk=broadcast.pk).update(expires_at=broadcast.created + ttl)


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0002_console_permission"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="broadcast",
            name="expires_at",
            field=models.DateTimeField(
                blank=True,
                help_text="After this the banner no longer shows on page load. Empty: a day after it is "
                "created (the NOTIFICATIONS_BROADCAST_TTL setting).",
                null=True,
            ),
        ),
        migrations.CreateModel(
            name="BroadcastDismissal",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("dismissed_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "broadcast",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="dismissals",
                        to="notifications.broadcast",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("user", "broadcast"), name="broadcast_dismissed_once_per_user"
                    )
                ],
            },
        ),
        migrations.RunPython(expire_open_ended, migrations.RunPython.noop),
    ]
