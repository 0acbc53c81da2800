"""How a stream is refused: a plain-text 4xx (:class:`StreamRefused`), or a ``200`` that says
"come back" (:class:`StreamUnavailable`) while a database or channel layer cannot answer."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse

from sse.conf import conf
from sse.wire.encoding import encode_opening

__all__ = ["UNAVAILABLE_ERRORS", "StreamRefused", "StreamUnavailable"]


class StreamRefused(Exception):
    """Turns into a plain-text 4xx answer; never a redirect, never a 500."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> HttpResponse:
        response = HttpResponse(
            self.message + "\n", status=self.status, content_type="text/plain; charset=utf-8"
        )
        if self.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="sse"'
        response["Cache-Control"] = "no-store"
        return response


class StreamUnavailable(StreamRefused):
    """The stream cannot open now (its database or channel layer is unavailable).

    Answered ``200`` with a ``retry:`` line and an end: a browser's EventSource comes
    back after it, where any 5xx would make it give up for good.
    """

    def __init__(self, message: str = "the server cannot open this stream now; come back soon") -> None:
        super().__init__(200, message)

    def response(self) -> HttpResponse:
        body = encode_opening(conf.SSE_OVER_CAPACITY_RETRY_MS, comment=self.message)
        response = HttpResponse(body, content_type="text/event-stream; charset=utf-8")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    # What a database, session store, cache or channel layer that cannot be reached raises.
    # Not every error: a missing table or a WSGI server that cannot run streams stays a 500.
    found: list[type[BaseException]] = [OperationalError, InterfaceError, ConnectionError, TimeoutError]
    try:
        from redis import exceptions as redis_errors  # with channels-redis
    except ImportError:  # pragma: no cover - depends on what is installed
        pass
    else:
        found += [redis_errors.ConnectionError, redis_errors.TimeoutError]
    return tuple(found)


UNAVAILABLE_ERRORS = _unavailable_errors()
