"""Sign-in for the test servers (the sse app ships no login page of its own), and a burst."""

from __future__ import annotations

from django.contrib.auth import authenticate, login
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

import sse


@csrf_exempt
@require_POST
def sign_in(request: HttpRequest) -> HttpResponse:
    user = authenticate(
        request, username=request.POST.get("username", ""), password=request.POST.get("password", "")
    )
    if user is None:
        return HttpResponse("bad credentials\n", status=403, content_type="text/plain")
    login(request, user)
    get_token(request)  # sets the csrftoken cookie the API calls need
    return HttpResponse(str(user.pk), content_type="text/plain")


@csrf_exempt
@require_POST
def burst(request: HttpRequest) -> HttpResponse:
    """``n`` events on ``channel`` published by the server process itself, in one transaction."""
    if not request.user.is_staff:
        return HttpResponse("staff only\n", status=403, content_type="text/plain")
    channel, count = request.POST["channel"], int(request.POST["n"])
    with transaction.atomic():
        for number in range(count):
            sse.publish(channel, {"n": number}, event="tick")
    return HttpResponse(str(count), content_type="text/plain")
