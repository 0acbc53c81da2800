"""A 503 with ``Retry-After`` instead of the 500 page while the database is unreachable.

DRF views answer JSON themselves (``project.drf``, the project's EXCEPTION_HANDLER);
this catches what the other views raise: JSON under ``/api/``, plain text elsewhere.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin

from project.drf import RETRY_AFTER_SECONDS, UNAVAILABLE_MESSAGE, is_unavailable

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
