"""The access log of ``python -m sse.daphne``: one line per request, when it ends.

Daphne writes a request's line only when the application ends the body, so a
stream whose client went away, or that the server cut off, never had one.
``sse.server.daphne`` writes every line itself when the application is done with the
request (it wraps the ASGI application: what it sent and received, nothing of
Daphne's), with how long it lasted, the body bytes sent and why it ended:

- ``complete``: the application ended the body (a page, an API answer, a stream
  that reached its lifetime or overflowed its queue);
- ``client-gone``: the client closed the connection first (a stream's usual end);
- ``server-shutdown``: the server was stopping (streams end cleanly, then what is
  left is cancelled);
- ``cut-off``: the client read nothing for ``SSE_SEND_TIMEOUT_SECONDS``;
- ``error``: the application failed (Daphne answers ``500`` if no response had
  started).

The line is Daphne's, plus those two fields (one line, wrapped here)::

    127.0.0.1:50312 - - [30/Nov/2026:08:40:00] "GET /sse/stream/?channel=a&token=[redacted]"
    200 5120 61.204s client-gone

Token values are redacted (``sse.server.redaction``) before anything is written.
"""

from __future__ import annotations

import datetime
from typing import Any

from daphne.access import AccessLogGenerator

__all__ = ["CLIENT_GONE", "COMPLETE", "CUT_OFF", "ERROR", "SERVER_SHUTDOWN", "AccessLog"]

COMPLETE = "complete"
CLIENT_GONE = "client-gone"
SERVER_SHUTDOWN = "server-shutdown"
CUT_OFF = "cut-off"
ERROR = "error"


class AccessLog(AccessLogGenerator):  # type: ignore[misc]  # Daphne ships no type information
    """Daphne's access log, with each HTTP request's duration and end on its line."""

    def __call__(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        if protocol != "http" or action != "complete":
            super().__call__(protocol, action, details)
            return
        status = details.get("status")
        client = details.get("client") or "-"
        date = datetime.datetime.now().strftime("%d/%b/%Y:%H:%M:%S")
        request = f"{details.get('method')} {details.get('path')}"
        seconds = float(details.get("time_taken") or 0.0)
        self.stream.write(
            f'{client} - - [{date}] "{request}" {"-" if status is None else status} '
            f"{details.get('size') or 0} {seconds:.3f}s {details.get('ended') or COMPLETE}\n"
        )
