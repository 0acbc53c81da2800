"""The project's middleware: a 503 while the database is unreachable; the viewer's time zone.

A 503 with ``Retry-After`` instead of the 500 page while the database is unreachable.

DRF views answer JSON themselves (``sse.api.guards``, the project's EXCEPTION_HANDLER);
this catches what the other views raise: JSON under ``/api/``, plain text elsewhere.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from inspect import iscoroutinefunction
from typing import Any
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.decorators import sync_and_async_middleware
from django.utils.deprecation import MiddlewareMixin

from sse.api.guards import RETRY_AFTER_SECONDS, UNAVAILABLE_MESSAGE, is_unavailable

logger = logging.getLogger("django.request")


class ServiceUnavailableMiddleware(MiddlewareMixin):
    get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_unavailable(exception):
            return None
        logger.warning("Service Unavailable: %s (%s)", request.path, type(exception).__name__)
        response: HttpResponse
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": UNAVAILABLE_MESSAGE}, status=503)
        else:
            text = UNAVAILABLE_MESSAGE + "\n"
            response = HttpResponse(text, status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response._has_been_logged = True  # type: ignore[attr-defined]  # Django's flag: logged above
        return response


# -- the viewer's time zone ------------------------------------------------------

TIME_ZONE_COOKIE = "tz"


# The JSON API and the streams answer in UTC whoever asks (their clients are programs too).
UTC_PATHS = ("/api/", "/sse/")


def zone_from_cookie(request: HttpRequest) -> ZoneInfo | None:
    """The IANA zone localtime.js stored from the browser ("America/New_York"), if valid."""
    if request.path.startswith(UTC_PATHS):
        return None
    name = request.COOKIES.get(TIME_ZONE_COOKIE, "")
    if not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # a path-like key; ZoneInfoNotFoundError (a KeyError)
        return None


@sync_and_async_middleware
def time_zone_middleware(get_response: Any) -> Any:
    """Activates the browser's zone for the request, so that the admin (its lists, its
    date and time fields, a broadcast's expiry) and the server-rendered fallbacks show and
    read times as the site's pages do: localtime.js writes them in the browser's zone and
    keeps the zone in the ``tz`` cookie. Without the cookie, and for the API and the
    streams, TIME_ZONE (UTC).
    """
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> Any:
            zone = zone_from_cookie(request)
            if zone is None:
                timezone.deactivate()
            else:
                timezone.activate(zone)
            try:
                return await get_response(request)
            finally:
                timezone.deactivate()

        return async_middleware

    def middleware(request: HttpRequest) -> Any:
        zone = zone_from_cookie(request)
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return get_response(request)
        finally:
            timezone.deactivate()

    return middleware
