"""The demo's hardening of every Django REST framework view: JSON in and out, never a 500 page.

``REST_FRAMEWORK`` (project/settings.py) names both for every DRF view of the site (the
chat, jobs and notifications APIs); the sse app's own views guard themselves the same way.

:class:`StrictJSONParser`: DRF's own ``JSONParser`` hands ``json.loads`` whatever arrives:
100,000 nested ``[`` end in a ``RecursionError`` (a 500), and an escaped lone surrogate
(``"\\ud800"``) is a Python string that cannot be encoded, so it is stored and breaks
whoever reads it back. This parser answers both with a ``ParseError`` (400, a JSON
message) before the view sees the data.

:func:`exception_handler`: DRF answers its own exceptions (validation, permissions, parse
errors) and leaves every other one to Django, whose answer is the HTML 500 page. Here:

- the database or the channel layer unavailable (``sse.UNAVAILABLE_ERRORS``:
  ``OperationalError``, ``InterfaceError``, a refused or timed-out connection): 503
  ``{"detail": ...}`` with ``Retry-After``, logged as one warning line; the
  request's transaction is rolled back, so nothing is half written;
- a request Django itself refuses as suspicious (``SuspiciousOperation``): a body over
  ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is 413, more fields than
  ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` and the rest 400, ``{"detail": ...}`` (Django answers
  400 for them outside DRF), logged by Django as any 4xx is: one line, no traceback;
- anything else: 500 ``{"detail": "server error"}``, logged with its traceback
  as Django logs one, and ``got_request_exception`` sent (the test client
  re-raises it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.signals import got_request_exception
from django.http import HttpRequest
from django.utils.log import log_response
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

import sse

__all__ = [
    "MAX_JSON_DEPTH",
    "RETRY_AFTER_SECONDS",
    "UNAVAILABLE_MESSAGE",
    "StrictJSONParser",
    "check_json_value",
    "exception_handler",
    "is_unavailable",
]

MAX_JSON_DEPTH = 64
"""How deeply arrays and objects may nest in a request body."""


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ParseError("JSON parse error - the body holds invalid Unicode (a lone surrogate)") from None


def check_json_value(value: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise ``ParseError`` if ``value`` nests deeper than ``max_depth`` or holds a lone surrogate.

    Walks with a list, not recursion, so no input can exhaust the stack here.
    """
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, Mapping | list):
            if depth >= max_depth:
                raise ParseError(f"JSON parse error - arrays and objects nest deeper than {max_depth} levels")
            if isinstance(item, Mapping):
                for key, child in item.items():
                    _check_text(key)
                    pending.append((child, depth + 1))
            else:
                pending.extend((child, depth + 1) for child in item)


class StrictJSONParser(JSONParser):
    """DRF's ``JSONParser``, plus a depth limit and no lone surrogates: both are a 400."""

    max_depth = MAX_JSON_DEPTH

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(
                f"JSON parse error - arrays and objects nest deeper than {self.max_depth} levels"
            ) from None
        check_json_value(data, self.max_depth)
        return data


RETRY_AFTER_SECONDS = 5
"""What ``Retry-After`` tells a client to wait when a backing service is down."""

UNAVAILABLE_MESSAGE = "service unavailable: the database or the channel layer cannot be reached; retry later"


def is_unavailable(exc: BaseException) -> bool:
    """True for the errors of a database or channel layer that cannot be reached right now."""
    return isinstance(exc, sse.UNAVAILABLE_ERRORS)


def _django_request(context: dict[str, Any]) -> HttpRequest | None:
    request = context.get("request")
    inner = getattr(request, "_request", request)
    return inner if isinstance(inner, HttpRequest) else None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's handler, then a JSON 503 (unavailable) or 500 (anything else) instead of HTML."""
    # Imported here: rest_framework.views reads DEFAULT_PARSER_CLASSES when imported, which
    # names this module's parser.
    from rest_framework.views import exception_handler as drf_exception_handler
    from rest_framework.views import set_rollback

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
