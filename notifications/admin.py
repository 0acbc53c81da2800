"""Admin: notifications, broadcasts (pushed when added), and "Send notification" on users."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from notifications import services
from notifications.models import Audience, Broadcast, Level, Notification, validate_link


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["title", "recipient", "level", "created", "read_at"]
    list_filter = ["level", ("read_at", admin.EmptyFieldListFilter), "created"]
    search_fields = ["title", "body", "recipient__username"]
    raw_id_fields = ["recipient"]
    date_hierarchy = "created"
    ordering = ["-created"]

    def save_model(self, request: HttpRequest, obj: Notification, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            services.push_new(obj)  # the admin's transaction sends it on commit


class BroadcastForm(forms.ModelForm):
    class Meta:
        model = Broadcast
        fields = ["title", "body", "level", "audience", "group", "users", "expires_at"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        audience = data.get("audience")
        if audience == Audience.GROUP and not data.get("group"):
            self.add_error("group", "choose the group this broadcast goes to")
        if audience == Audience.USERS and not data.get("users"):
            self.add_error("users", "choose at least one user")
        return data


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    form = BroadcastForm
    list_display = [
        "title",
        "level",
        "audience_shown",
        "sent_at",
        "streams_reached",
        "recipients",
        "expires_at",
    ]
    list_filter = ["level", "audience"]
    search_fields = ["title", "body"]
    filter_horizontal = ["users"]
    date_hierarchy = "created"

    def get_fields(self, request: HttpRequest, obj: Broadcast | None = None) -> list[str]:
        fields = ["title", "body", "level", "audience", "group", "users", "expires_at"]
        if obj is not None:
            fields += ["sent_at", "streams_reached", "recipients", "created_by", "created"]
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Broadcast | None = None) -> list[str]:
        if obj is None:
            return []
        # It went out already: its audience and text are history now. Only the expiry moves.
        return [name for name in self.get_fields(request, obj) if name != "expires_at"]

    @admin.display(description="audience")
    def audience_shown(self, obj: Broadcast) -> str:
        if obj.audience == Audience.GROUP and obj.group is not None:
            return f"group {obj.group.name}"
        return obj.get_audience_display()

    def save_model(self, request: HttpRequest, obj: Broadcast, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if not change:
            # After the chosen users are saved; it goes out when the admin's transaction commits.
            services.send_broadcast(form.instance)


class SendNotificationForm(forms.Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=4000)
    level = forms.ChoiceField(choices=Level.choices, initial=Level.INFO)
    url = forms.CharField(label="Link", max_length=500, required=False, validators=[validate_link])


User = get_user_model()
try:
    admin.site.unregister(User)
except NotRegistered:
    pass


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    actions = ["send_notification"]

    def has_notify_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("notifications.add_notification"))

    @admin.action(description="Send notification", permissions=["notify"])
    def send_notification(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        if "apply" in request.POST:
            form = SendNotificationForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                users = list(queryset)
                with transaction.atomic():
                    for user in users:
                        services.notify(
                            user, data["title"], data["body"], level=data["level"], url=data["url"]
                        )
                self.message_user(
                    request, f"Sent “{data['title']}” to {len(users)} user(s).", messages.SUCCESS
                )
                return None
        else:
            form = SendNotificationForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "Send notification",
            "form": form,
            "users": queryset,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action": "send_notification",
        }
        return TemplateResponse(request, "admin/notifications/send_notification.html", context)
