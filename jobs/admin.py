from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from jobs.models import ACTIVE, Job
from jobs.outcomes import cancel_job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "kind", "owner", "status", "progress", "message", "created", "finished"]
    list_filter = ["status", "kind"]
    search_fields = ["id", "owner__username", "kind"]
    date_hierarchy = "created"
    list_select_related = ["owner"]
    actions = ["cancel_jobs"]
    readonly_fields = [
        "id", "owner", "kind", "params", "status", "progress", "done", "total", "message", "result",
        "error", "created", "started", "finished", "heartbeat", "exited", "worker",
    ]  # fmt: skip
    fields = readonly_fields

    @admin.display(description="progress")
    def progress(self, job: Job) -> str:
        return format_html(
            '<progress max="100" value="{}" title="{} of {}"></progress> {}%',
            job.percent,
            job.done,
            job.total,
            job.percent,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs start from /jobs/ or the API, never as a bare row

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Read-only everywhere; the cancel action is the one change staff may make.
        return False if obj is not None else super().has_change_permission(request, obj)

    @admin.action(description="Cancel selected jobs", permissions=["cancel"])
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        cancelled = sum(cancel_job(job) for job in queryset.filter(status__in=ACTIVE))
        self.message_user(
            request, f"Cancelled {cancelled} job(s); finished ones were left alone.", messages.SUCCESS
        )

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return super().has_change_permission(request)
