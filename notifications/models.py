"""Notifications for one user, and broadcasts to an audience."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from notifications.conf import broadcast_ttl


class Level(models.TextChoices):
    INFO = "info", "Info"
    SUCCESS = "success", "Success"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


def validate_link(value: str) -> None:
    # The page renders it as an href: only site paths and http(s) links, never javascript: & co.
    if not value:
        return
    # A path of this site, and not one a browser reads as another host ("//host", a slash
    # then a backslash, or tabs in between): Django's own check for redirects decides.
    if value.startswith("/") and url_has_allowed_host_and_scheme(value, allowed_hosts=None):
        return
    if value.startswith(("http://", "https://")) and len(value) > len("https://"):
        return
    raise ValidationError("enter a path starting with / or an http(s):// link")


class Notification(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, max_length=4000)
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    url = models.CharField("link", max_length=500, blank=True, validators=[validate_link])
    created = models.DateTimeField(default=timezone.now, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notif_recipient_read")]
        # The operator console (/console/): see every channel's events and open streams,
        # disconnect streams, send broadcasts and notifications.
        permissions = [("use_console", "Can use the operator console")]

    def __str__(self) -> str:
        return f"{self.title} → {self.recipient}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    def event_data(self) -> dict[str, Any]:
        """The ``notification`` event."""
        return {
            "id": self.pk,
            "title": self.title,
            "body": self.body,
            "level": self.level,
            "url": self.url,
            "created": self.created,
        }


class Audience(models.TextChoices):
    EVERYONE = "everyone", "Everyone signed in"
    STAFF = "staff", "Staff"
    GROUP = "group", "A group"
    USERS = "users", "Chosen users"


class BroadcastQuerySet(models.QuerySet["Broadcast"]):
    def active(self) -> BroadcastQuerySet:
        now = timezone.now()
        return self.filter(sent_at__isnull=False).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))

    def visible_to(self, user: Any) -> BroadcastQuerySet:
        if not user.is_authenticated:
            return self.none()
        audience = Q(audience=Audience.EVERYONE) | Q(audience=Audience.USERS, users=user)
        audience |= Q(audience=Audience.GROUP, group__in=user.groups.all())
        if user.is_staff:
            audience |= Q(audience=Audience.STAFF)
        return self.filter(audience).distinct()

    def not_dismissed_by(self, user: Any) -> BroadcastQuerySet:
        return self.exclude(dismissals__user=user)


class Broadcast(models.Model):
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, max_length=4000)
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    audience = models.CharField(max_length=10, choices=Audience.choices, default=Audience.EVERYONE)
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, help_text="For the audience 'A group'."
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        help_text="For the audience 'Chosen users'.",
    )
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="After this the banner no longer shows on page load. Empty: a day after it is "
        "created (the NOTIFICATIONS_BROADCAST_TTL setting).",
    )
    created = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField("went out", null=True, blank=True)
    recipients = models.PositiveIntegerField(
        null=True, blank=True, help_text="Users in the audience when it went out (everyone: not counted)."
    )
    streams_reached = models.PositiveIntegerField(
        "open streams reached",
        null=True,
        blank=True,
        help_text="Open streams of its audience on the server process that sent it.",
    )

    objects = BroadcastQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Banners that never expire piled up on every page: a broadcast given no expiry
        # gets the default one, counted from its creation.
        if self.expires_at is None:
            ttl = broadcast_ttl()
            if ttl is not None:
                self.expires_at = self.created + ttl
                update_fields = kwargs.get("update_fields")
                if update_fields is not None and "expires_at" not in update_fields:
                    kwargs["update_fields"] = [*update_fields, "expires_at"]
        super().save(*args, **kwargs)

    @property
    def is_active(self) -> bool:
        return self.expires_at is None or self.expires_at > timezone.now()

    def event_data(self) -> dict[str, Any]:
        """The ``broadcast`` event."""
        return {"id": self.pk, "title": self.title, "body": self.body, "level": self.level}


class BroadcastDismissal(models.Model):
    """A user closed a broadcast's banner: it stays closed in every browser they use."""

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="dismissals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    dismissed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "broadcast"], name="broadcast_dismissed_once_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} dismissed {self.broadcast}"
