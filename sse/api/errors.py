"""Errors of Django REST framework views as JSON, never Django's HTML pages.

DRF answers its own exceptions (validation, permissions, parse errors) and
leaves every other one to Django, whose answer is the HTML 500 page. Here:

- the database or the channel layer unavailable (``OperationalError``,
  ``InterfaceError``, a refused or timed-out connection): 503
  ``{"detail": ...}`` with ``Retry-After``, logged as one warning line; the
  request's transaction is rolled back, so nothing is half written;
- a request Django itself refuses as suspicious (``SuspiciousOperation``): a body over
  ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is 413, more fields than
  ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` and the rest 400, ``{"detail": ...}`` (Django answers
  400 for them outside DRF), logged by Django as any 4xx is: one line, no traceback;
- anything else: 500 ``{"detail": "server error"}``, logged with its traceback
  as Django logs one, and ``got_request_exception`` sent (the test client
  re-raises it).

The sse API views use :func:`exception_handler`; a project makes it the
default with ``REST_FRAMEWORK = {"EXCEPTION_HANDLER": "sse.api.errors.exception_handler"}``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.signals import got_request_exception
from django.http import HttpRequest
from django.utils.log import log_response
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from sse.streams.access import UNAVAILABLE_ERRORS

__all__ = ["RETRY_AFTER_SECONDS", "UNAVAILABLE_MESSAGE", "exception_handler", "is_unavailable"]

RETRY_AFTER_SECONDS = 5
"""What ``Retry-After`` tells a client to wait when a backing service is down."""

UNAVAILABLE_MESSAGE = "service unavailable: the database or the channel layer cannot be reached; retry later"


def is_unavailable(exc: BaseException) -> bool:
    """True for the errors of a database or channel layer that cannot be reached right now."""
    return isinstance(exc, UNAVAILABLE_ERRORS)


def _django_request(context: dict[str, Any]) -> HttpRequest | None:
    request = context.get("request")
    inner = getattr(request, "_request", request)
    return inner if isinstance(inner, HttpRequest) else None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's handler, then a JSON 503 (unavailable) or 500 (anything else) instead of HTML."""
    response = drf_exception_handler(exc, context)
    if response is not None:
        return response
    set_rollback()
    request = _django_request(context)
    if is_unavailable(exc):
        response = Response(
            {"detail": UNAVAILABLE_MESSAGE},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
        if request is not None:
            log_response(
                "Service Unavailable: %s (%s: %s)",
                request.path,
                type(exc).__name__,
                str(exc).strip().splitlines()[0] if str(exc).strip() else "",
                response=response,
                request=request,
                level="warning",
            )
        return response
    if isinstance(exc, SuspiciousOperation):
        return _refused(exc)
    response = Response({"detail": "server error"}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if request is not None:
        got_request_exception.send(sender=None, request=request)
        log_response(
            "Internal Server Error: %s", request.path, response=response, request=request, exception=exc
        )
    return response


def _refused(exc: SuspiciousOperation) -> Response:
    too_big = isinstance(exc, RequestDataTooBig)
    code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE if too_big else status.HTTP_400_BAD_REQUEST
    return Response({"detail": str(exc) or "bad request"}, status=code)
