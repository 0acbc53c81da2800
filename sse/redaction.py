"""Keep stream tokens out of access logs.

A browser's ``EventSource`` cannot send headers, so a stream token travels as
``?token=``; it is a credential for a few minutes, and servers log query
strings. ``python -m sse.daphne`` redacts its own access log; for other
servers, attach :class:`RedactTokensFilter` to their access logger::

    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"sse_redact": {"()": "sse.redaction.RedactTokensFilter"}},
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

__all__ = ["RedactTokensFilter", "redact"]

_SECRET_PARAM = re.compile(r"((?:^|[?&])(?:token|access_token)=)[^&#\s]*", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with the value of every ``token=`` / ``access_token=`` parameter replaced."""
    return _SECRET_PARAM.sub(r"\1[redacted]", text)


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
