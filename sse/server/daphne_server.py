"""Daphne's server as ``python -m sse.daphne`` builds it: other constructor arguments (the
application wrapped, a deep listen backlog, static files under ``DEBUG``), system checks
before it serves, back-pressure in its ``send()`` and a lighter input queue per request.
"""

from __future__ import annotations

import asyncio
import re
import sys
from functools import partial
from typing import Any

from daphne.access import AccessLogGenerator
from daphne.server import Server

from sse.server.access_log import AccessLog
from sse.server.backpressure import end_flow, flow_of, follow_flow, wait_writable
from sse.server.request_deadline import DeadlineFactory, request_arrived, response_ended
from sse.server.served import RedactingLogger, Served, WithoutHttpLines

__all__ = ["InputQueue", "StreamingServer", "run_checks", "with_backlog", "with_static_files"]


class InputQueue:
    """The request's ASGI input queue: what Daphne uses of ``asyncio.Queue``.

    An ``asyncio.Queue`` is four deques and an ``Event``, over 3 KB; an open
    stream keeps its queue for its whole life and receives one message in it
    (``http.disconnect``). Truthy, like the queue it replaces (Daphne tests it).
    """

    __slots__ = ("_getters", "_items")

    def __init__(self) -> None:
        self._items: list[dict[str, Any]] = []
        self._getters: list[asyncio.Future[None]] = []

    def put_nowait(self, item: dict[str, Any]) -> None:
        self._items.append(item)
        getters, self._getters = self._getters, []
        for getter in getters:
            if not getter.done():
                getter.set_result(None)

    async def get(self) -> dict[str, Any]:
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            finally:
                if getter in self._getters:
                    self._getters.remove(getter)
        return self._items.pop(0)


def with_static_files(application: Any) -> Any:
    """Under ``DEBUG``, serve ``STATIC_URL`` in front of ``application``, as runserver does.

    An application that is Django's own ``ASGIStaticFilesHandler`` (an asgi.py serving
    its static files) gets sse's in its place, DEBUG or not: the same files, and a 404
    instead of a 500 with a traceback for a path that leaves the static folders.
    """
    from django.apps import apps
    from django.conf import settings

    if not (settings.configured and apps.ready):
        return application
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from sse.server.staticfiles import StaticFilesHandler

    if type(application) is ASGIStaticFilesHandler:
        return StaticFilesHandler(application.application)
    if not settings.DEBUG or not apps.is_installed("django.contrib.staticfiles"):
        return application
    if isinstance(application, ASGIStaticFilesHandler):
        return application
    return StaticFilesHandler(application)


def run_checks() -> None:
    """Django's system checks, as ``manage.py runserver`` runs them before it serves.

    Printed (to stderr, with runserver's wording); an error exits with status 1. Nothing
    for an application that is not a Django project's.
    """
    from django.apps import apps
    from django.conf import settings

    if not (settings.configured and apps.ready):
        return
    from django.core.management.base import BaseCommand, SystemCheckError
    from django.db import DatabaseError, connections

    command = BaseCommand(stdout=sys.stderr, stderr=sys.stderr)
    command.stdout.write("Performing system checks...\n\n")
    try:
        command.check(display_num_errors=True)
    except SystemCheckError as error:
        command.stderr.write(f"{error}\n")
        raise SystemExit(1) from None
    try:
        command.check_migrations()  # "You have N unapplied migration(s)...", as runserver says
    except DatabaseError as error:
        # A database down at start-up is no reason not to serve: requests will say so.
        command.stderr.write(f"Could not check for unapplied migrations: {error}\n")
    finally:
        connections.close_all()  # this thread goes on to run the event loop


def with_backlog(endpoint: str) -> str:
    """A tcp: or unix: endpoint string with ``SSE_LISTEN_BACKLOG`` unless it names a backlog.

    Twisted listens with a backlog of 50: in a reconnect storm the kernel drops the
    connections past it, and each client waits a TCP retransmission (1 s, then 3 s)
    before it is even seen.
    """
    from sse.conf import conf

    kind = endpoint.split(":", 1)[0]
    if kind not in ("tcp", "unix") or re.search(r"(^|:)backlog=", endpoint):
        return endpoint
    return f"{endpoint}:backlog={conf.SSE_LISTEN_BACKLOG}"


class StreamingServer(Server):  # type: ignore[misc]  # Daphne ships no type information
    """Daphne's server, given other constructor arguments, with back-pressure in its ``send()``."""

    def __init__(
        self,
        application: Any,
        *args: Any,
        endpoints: list[str] | None = None,
        action_logger: Any = None,
        **kwargs: Any,
    ) -> None:
        access_log = None
        if type(action_logger) is AccessLogGenerator:  # the CLI's: the same file, one line per request
            access_log = RedactingLogger(AccessLog(action_logger.stream))
            action_logger = WithoutHttpLines(access_log)
        elif action_logger is not None:
            action_logger = RedactingLogger(action_logger)
        application = Served(with_static_files(application), access_log)
        super().__init__(
            application,
            *args,
            endpoints=[with_backlog(endpoint) for endpoint in endpoints or []],
            action_logger=action_logger,
            **kwargs,
        )

    def run(self) -> None:
        run_checks()
        super().run()

    @property
    def http_factory(self) -> Any:
        """What Daphne listens with: its HTTP factory, each request given a deadline to arrive
        (``sse.server.request_deadline``; ``SSE_BODY_TIMEOUT_SECONDS``, 0: none)."""
        return self._listening_factory

    @http_factory.setter
    def http_factory(self, factory: Any) -> None:
        from sse.conf import conf

        timeout = conf.SSE_BODY_TIMEOUT_SECONDS
        if timeout > 0:
            factory = DeadlineFactory(factory, timeout, conf.SSE_BODY_MIN_BYTES_PER_SECOND)
        self._listening_factory = factory

    def protocol_disconnected(self, protocol: Any) -> None:
        response_ended(protocol)  # the connection's next request has the clock
        super().protocol_disconnected(protocol)

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> InputQueue | None:
        request_arrived(protocol)  # the request is in, headers and body: its clock stops
        return self.application_with_lighter_queue(protocol, scope)

    def application_with_lighter_queue(self, protocol: Any, scope: dict[str, Any]) -> InputQueue | None:
        # Daphne's own create_application, with a lighter input queue.
        assert "application_instance" not in self.connections[protocol]
        input_queue = InputQueue()
        scope.setdefault("asgi", {"version": "3.0"})
        application_instance = self.application(
            scope=scope, receive=input_queue.get, send=partial(self.handle_reply, protocol)
        )
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(application_instance)
        return input_queue

    async def handle_reply(self, protocol: Any, message: dict[str, Any]) -> None:
        kind = message.get("type")
        flow = flow_of(protocol)
        if flow is not None and kind == "http.response.body":
            if flow.paused:
                await wait_writable(protocol, flow)
            if not message.get("more_body", False):
                end_flow(protocol)
        await super().handle_reply(protocol, message)
        if kind == "http.response.start":
            follow_flow(protocol)  # Daphne's WebRequest is a twisted.web.http.Request
