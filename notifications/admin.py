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
from django.utils import timezone
from django.utils.translation import ngettext

from notifications import services
from notifications.models import Audience, Broadcast, Level, Notification, validate_link


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["title", "recipient", "level", "created", "read_at"]
    list_filter = ["level", ("read_at", admin.EmptyFieldListFilter), "created"]
    search_fields = ["title", "body", "recipient__username"]
    # A searchable user picker (the user admin's search fields), not a raw id.
    autocomplete_fields = ["recipient"]
    # Set by the system: when it was made, and when its recipient read it.
    readonly_fields = ["created", "read_at"]
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Entered and shown in the viewer's zone, the one the site's pages show (the tz cookie;
        # project.middleware.time_zone_middleware), and the form says which.
        if "expires_at" in self.fields:
            zone = timezone.get_current_timezone_name()
            field = self.fields["expires_at"]
            field.help_text = f"{field.help_text} In your time zone, {zone}."

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        audience = data.get("audience")
        if audience == Audience.GROUP and not data.get("group"):
            self.add_error("group", "choose the group this broadcast goes to")
        if audience == Audience.USERS and not data.get("users"):
            self.add_error("users", "choose at least one user")
        # The page hides the fields another audience uses; what they still hold is not kept.
        if audience != Audience.GROUP and "group" in data:
            data["group"] = None
        if audience != Audience.USERS and "users" in data:
            data["users"] = self.fields["users"].queryset.none()
        return data


def _reached_message(broadcast: Broadcast) -> str:
    streams = broadcast.streams_reached or 0
    reached = ngettext("open stream", "open streams", streams)
    if broadcast.recipients is None:
        audience = "everyone signed in"
    else:
        audience = ngettext("%(n)d user", "%(n)d users", broadcast.recipients) % {"n": broadcast.recipients}
    return f"“{broadcast.title}” went out to {streams} {reached} now (its audience: {audience})."


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    form = BroadcastForm
    # Six short columns fit 1280 px: the recipients count goes with the audience.
    list_display = ["title", "level", "audience_shown", "sent_at", "streams_reached", "expires_at"]
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
            shown = f"group {obj.group.name}"
        else:
            shown = obj.get_audience_display()
        if obj.recipients is not None:
            shown += (
                " (" + ngettext("%(n)d user", "%(n)d users", obj.recipients) % {"n": obj.recipients} + ")"
            )
        return shown

    def save_model(self, request: HttpRequest, obj: Broadcast, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if not change:
            # After the chosen users are saved; it goes out when the admin's transaction commits.
            services.send_broadcast(form.instance)
            # Then (on_commit runs in order) say how many open streams it reached: the
            # messages are stored with the response, which is made after the commit.
            pk = form.instance.pk
            transaction.on_commit(
                lambda: self.message_user(
                    request, _reached_message(Broadcast.objects.get(pk=pk)), messages.SUCCESS
                )
            )


class SendNotificationForm(forms.Form):
    required_css_class = "required"  # the admin's bold labels for required fields
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
                count = ngettext("%(n)d user", "%(n)d users", len(users)) % {"n": len(users)}
                self.message_user(request, f"Sent “{data['title']}” to {count}.", messages.SUCCESS)
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
