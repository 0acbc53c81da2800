"""Sign-in for the test servers: the sse app ships no login page of its own."""

from __future__ import annotations

from django.contrib.auth import authenticate, login
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


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
