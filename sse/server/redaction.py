"""Keep stream tokens out of access logs.

A browser's ``EventSource`` cannot send headers, so a stream token travels as
``?token=``; it is a credential for a few minutes, and servers log query
strings. ``python -m sse.daphne`` redacts its own access log; for other
servers, attach :class:`RedactTokensFilter` to their access logger::

    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"sse_redact": {"()": "sse.server.redaction.RedactTokensFilter"}},
        "loggers": {
            "uvicorn.access": {"filters": ["sse_redact"]},          # uvicorn
            "django.channels.server": {"filters": ["sse_redact"]},  # daphne's runserver
        },
    }
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote_plus

__all__ = ["ACCESS_LOGGERS", "RedactTokensFilter", "guard_access_logs", "redact"]

# The loggers ASGI servers write their access lines to. uvicorn (alone and as gunicorn's
# worker) logs the query string by default; daphne's runserver too; hypercorn and granian
# only with a format that asks for it (%(R)s / %(Uq)s / %(q)s, %(query_string)s).
ACCESS_LOGGERS = (
    "uvicorn.access",
    "gunicorn.access",
    "hypercorn.access",
    "granian.access",
    "django.channels.server",
)

# One query parameter: what starts it, its name as sent, its value up to the next & or #.
_PARAM = re.compile(r"(?P<start>(?:^|[?&]))(?P<name>[^=&#?\s]*)=[^&#\s]*")
_SECRET_NAMES = frozenset({"token", "access_token"})


def _is_secret(name: str) -> bool:
    # The server reads names percent-decoded (``?%74oken=`` is ``token``): compare the
    # decoded name, and the name decoded again, so no spelling of it stays in clear.
    for _ in range(4):
        if name.lower() in _SECRET_NAMES:
            return True
        decoded = unquote_plus(name)
        if decoded == name:
            return False
        name = decoded
    return name.lower() in _SECRET_NAMES


def _redact_param(match: re.Match[str]) -> str:
    if not _is_secret(match.group("name")):
        return match.group(0)
    return f"{match.group('start')}{match.group('name')}=[redacted]"


def redact(text: str) -> str:
    """``text`` with the value of every ``token=`` / ``access_token=`` parameter replaced.

    The name is matched as the server reads it, after percent-decoding: ``?%74oken=``
    and ``?tok%65n=`` are redacted too.
    """
    return _PARAM.sub(_redact_param, text)


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactTokensFilter(logging.Filter):
    """Rewrites a log record's message and arguments so no token value reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        args = record.args
        if isinstance(args, dict):
            record.args = {key: _redact_value(value) for key, value in args.items()}
        elif isinstance(args, tuple):
            record.args = tuple(_redact_value(value) for value in args)
        return True


def guard_access_logs(names: tuple[str, ...] = ACCESS_LOGGERS) -> None:
    """Attach :class:`RedactTokensFilter` to the servers' access loggers (once each).

    Called when the app is ready, in every server process: a logger's filters outlive
    ``logging.config.dictConfig`` (which replaces handlers, not filters).
    """
    for name in names:
        log = logging.getLogger(name)
        if not any(isinstance(f, RedactTokensFilter) for f in log.filters):
            log.addFilter(RedactTokensFilter())
