from __future__ import annotations

from django.contrib import admin

from chat.models import Message, Presence, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["slug", "name", "private", "created"]
    list_filter = ["private"]
    search_fields = ["slug", "name"]
    filter_horizontal = ["members"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["created", "room", "author", "body"]
    list_filter = ["room"]
    search_fields = ["body", "author__username"]
    list_select_related = ["room", "author"]
    raw_id_fields = ["author"]
    date_hierarchy = "created"


@admin.register(Presence)
class PresenceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: the server processes keep these rows."""

    list_display = ["room", "user", "process", "seen"]
    list_filter = ["room"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
