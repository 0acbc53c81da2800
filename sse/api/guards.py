"""JSON in and out for Django REST framework views: sse's API views, and a project's own.

sse's views name these themselves (``parser_classes``, ``get_exception_handler``), so the
app stands alone in any project, whatever its ``REST_FRAMEWORK`` says. A project can give
every DRF view of its own the same by naming them there (the demo does)::

    REST_FRAMEWORK = {
        "DEFAULT_PARSER_CLASSES": ["sse.api.guards.StrictJSONParser", ...],
        "EXCEPTION_HANDLER": "sse.api.guards.exception_handler",
    }

- :class:`StrictJSONParser`: DRF's ``JSONParser`` plus a depth limit and no lone
  surrogates: 100,000 nested ``[`` would be a ``RecursionError`` (a 500), an escaped lone
  surrogate a string stored that breaks whoever reads it back; both are a 400 here.
- :func:`exception_handler`: the database or the channel layer unavailable is a 503
  ``{"detail": ...}`` with ``Retry-After`` (the transaction rolled back, one warning
  line); a request Django refuses as suspicious is 413 (too big) or 400; anything
  else a 500 ``{"detail": "server error"}``, logged as Django logs one, never an HTML page.
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

from sse.streams.access import UNAVAILABLE_ERRORS

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
    return isinstance(exc, UNAVAILABLE_ERRORS)


def _django_request(context: dict[str, Any]) -> HttpRequest | None:
    request = context.get("request")
    inner = getattr(request, "_request", request)
    return inner if isinstance(inner, HttpRequest) else None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's handler, then a JSON 503 (unavailable) or 500 (anything else) instead of HTML."""
    # Imported here: rest_framework.views reads DEFAULT_PARSER_CLASSES when it is imported,
    # and a project's settings may name this module's parser there.
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
