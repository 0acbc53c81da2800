"""The demo's own pages: the home page and its "try it" action. (403.html and 404.html in
templates/ give refusals the site's layout through Django's own handlers.)"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from notifications.services import notify


def _console_url() -> str:
    """The operator console's address, or "" while the project has none."""
    try:
        return reverse("console:index")
    except NoReverseMatch:
        return ""


def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    context = {
        "console_url": _console_url() if user.has_perm("notifications.use_console") else "",
        "sent": request.GET.get("sent") == "1",
    }
    return render(request, "home.html", context)


@require_POST
@login_required
def try_notification(request: HttpRequest) -> HttpResponse:
    """Sends the signed-in user a notification, so anyone can watch one arrive live (the
    notifications API that creates them is for staff)."""
    notify(
        request.user,
        "Hello from the home page",
        "You sent yourself this notification; it reached every page you have open.",
        url="/notifications/",
    )
    if request.headers.get("Accept") == "application/json":
        return HttpResponse('{"sent": true}', content_type="application/json")
    return HttpResponseRedirect("/?sent=1")
