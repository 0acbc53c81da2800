"""``python -m sse.daphne``: Daphne, with what a development server and a stream need.

``python -m sse.daphne project.asgi:application -b 127.0.0.1 -p 8000`` takes
Daphne's own arguments. What streams need from their server lives in the
application and the hub, so every ASGI server has it (plain ``daphne``
included): a clean end of every stream on SIGTERM/SIGINT with a spread
``retry:`` (``sse.server.shutdown``), the garbage-collector tuning (``sse.hub.channel_hub``),
tokens kept out of the access loggers of uvicorn, gunicorn and runserver
(``sse.server.redaction``). This adds, through Daphne's constructor arguments,
twisted.web's public producer interface and one Daphne method (``send()`` is
``Server.handle_reply``: the only way to the twisted.web request of a response):

- Django's system checks at start-up, as ``manage.py runserver`` runs them:
  printed, and the server refuses to start on an error;
- back-pressure: Daphne's ``send()`` returns at once and Twisted buffers
  whatever a client does not read, without limit. Here ``send()`` waits while
  the connection's send buffer is full (a push producer registered on the
  twisted.web request, which Twisted pauses and resumes), so a stream that
  falls behind fills its own bounded queue in the hub and is closed (its
  client resumes from the log); a client that reads nothing for
  ``SSE_SEND_TIMEOUT_SECONDS`` is cut off;
- an access log that never shows stream tokens (Daphne writes its own lines to
  a file, out of reach of a logging filter), with one line per HTTP request
  when it ends, streams whose client went away included (``sse.server.access_log``);
- a listen backlog of ``SSE_LISTEN_BACKLOG`` (2048) instead of Twisted's 50,
  so a reconnect storm waits to be accepted rather than being dropped;
- on SIGTERM/SIGINT, the wait ``sse.server.shutdown`` gives the streams covers the
  other responses in flight too (Daphne cancels whatever is left once its own
  shutdown begins; uvicorn, hypercorn and granian wait for them);
- static files under ``DEBUG``, as ``manage.py runserver`` serves them (when
  ``django.contrib.staticfiles`` is installed), so ``{% static 'sse/sse.js' %}``
  loads during development; a path that leaves the static folders
  (``/static/../settings.py``) is a 404, not a 500 with a traceback
  (``sse.server.staticfiles``);
- lighter streams: each request's ASGI input queue is a few hundred bytes
  instead of Daphne's ``asyncio.Queue`` (over 3 KB, kept for a stream's life),
  Daphne's ``create_application`` with that one change;
- a deadline for each request to arrive, headers and body, ``SSE_BODY_TIMEOUT_SECONDS``
  (``sse.server.request_deadline``): Twisted reads both before the application is
  called, so ``sse.asgi``'s body timeout cannot reach them, and Twisted's own timeout is
  an idle one that every byte starts again.
"""

# What this module and its parts (sse.server.daphne_server, .backpressure, .served) rely on
# of Daphne and Twisted (tests/sse/test_upstream.py has a test for
# each, naming it and the installed version; pyproject.toml caps Daphne below its first
# untested release):
#
# - Daphne: CommandLineInterface.server_class, built by CommandLineInterface.run with the
#   constructor's keyword arguments (application, endpoints, action_logger: an
#   AccessLogGenerator whose .stream is the --access-log file) and then run(); Server.run;
#   Server.handle_reply(protocol, message), which is the application's send(), with protocol
#   the twisted.web Request of the response (http.response.* messages); for the lighter
#   queue, Server.create_application (copied in
#   StreamingServer, so it must still match Daphne's),
#   Server.connections, and the protocols using only put_nowait on the input queue.
#   For the request deadline: Server.run assigns Server.http_factory and listens with it
#   (StreamingServer makes it a property that wraps the factory), Server.create_application
#   is called once a request is complete, Server.protocol_disconnected when its response ends.
#   Daphne's own HTTP "complete" action line is dropped (sse writes one per request).
# - Twisted, public interfaces only: twisted.web.http.Request as an IConsumer
#   (registerProducer/unregisterProducer with an IPushProducer, paused on each write past the
#   transport's buffer size and stopped when the connection is lost), Request.finished,
#   Request.channel and its transport's abortConnection() (ITCPTransport);
#   twisted.protocols.policies.WrappingFactory / ProtocolWrapper (a request's transport is
#   the connection's wrapper), IDelayedCall.delay().

from __future__ import annotations

import sys

from daphne.cli import CommandLineInterface

from sse.server.backpressure import SendCutOff
from sse.server.daphne_server import StreamingServer, run_checks, with_backlog
from sse.server.redaction import redact

__all__ = ["SendCutOff", "main", "redact", "run_checks", "with_backlog"]


class _CommandLineInterface(CommandLineInterface):  # type: ignore[misc]  # Daphne ships no type information
    server_class = StreamingServer


def main(argv: list[str] | None = None) -> None:
    _CommandLineInterface().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":  # python -m sse.server.daphne works too
    main()
