"""The demo's own pages: the home page and its "try it" action. (403.html and 404.html in
templates/ give refusals the site's layout through Django's own handlers.)"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from chat.models import Room
from notifications.models import Notification
from notifications.services import notify

TRY_TITLE = "Hello from the home page"


def _console_url() -> str:
    """The operator console's address, or "" while the project has none."""
    try:
        return reverse("console:index")
    except NoReverseMatch:
        return ""


def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    context = {
        # Only the private rooms this user may enter get a link (bob would meet a bare 404).
        "private_rooms": list(Room.objects.readable_by(user).filter(private=True)),
        "console_url": _console_url() if user.has_perm("notifications.use_console") else "",
        "sent": request.GET.get("sent") == "1",
    }
    return render(request, "home.html", context)


def _try_wait(user: Any) -> int:
    """Seconds until ``user`` may send another test notification (0: now), from the stored ones."""
    limit, window = settings.TRY_NOTIFICATION_LIMIT, settings.TRY_NOTIFICATION_WINDOW_SECONDS
    if limit <= 0 or window <= 0:
        return 0
    now = timezone.now()
    recent = list(
        Notification.objects.filter(
            recipient=user, title=TRY_TITLE, created__gt=now - timedelta(seconds=window)
        )
        .order_by("-created")
        .values_list("created", flat=True)[:limit]
    )
    if len(recent) < limit:
        return 0
    return max(1, math.ceil((recent[-1] + timedelta(seconds=window) - now).total_seconds()))


@require_POST
@login_required
def try_notification(request: HttpRequest) -> HttpResponse:
    """Sends the signed-in user a notification, so anyone can watch one arrive live (the
    notifications API that creates them is for staff). At most TRY_NOTIFICATION_LIMIT per
    TRY_NOTIFICATION_WINDOW_SECONDS per user: past it, 429 with Retry-After."""
    wants_json = request.headers.get("Accept") == "application/json"
    with transaction.atomic():
        # One at a time per user, so racing requests cannot all squeeze under the limit (a row
        # lock where the database has them; SQLite's IMMEDIATE transactions serialise writers).
        list(
            get_user_model()._default_manager.select_for_update().filter(pk=request.user.pk).values_list("pk")
        )
        wait = _try_wait(request.user)
        if not wait:
            notify(
                request.user,
                TRY_TITLE,
                "You sent yourself this notification; it reached every page you have open.",
                url="/notifications/",
            )
    if wait:
        limit, window = settings.TRY_NOTIFICATION_LIMIT, settings.TRY_NOTIFICATION_WINDOW_SECONDS
        detail = f"You sent yourself {limit} in the last {window} s: try again in {wait} s."
        answer: HttpResponse = (
            JsonResponse({"detail": detail}, status=429)
            if wants_json
            else HttpResponse(detail + "\n", status=429, content_type="text/plain; charset=utf-8")
        )
        answer["Retry-After"] = str(wait)
        return answer
    if wants_json:
        return HttpResponse('{"sent": true}', content_type="application/json")
    return HttpResponseRedirect("/?sent=1")
