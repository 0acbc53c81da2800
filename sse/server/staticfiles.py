"""Static files over ASGI without a 500 for paths that leave the static folders.

Django's ``ASGIStaticFilesHandler`` answers ``GET /static/../project/settings.py``
(or ``/static/a/../../x``) with ``SuspiciousFileOperation`` raised out of the
ASGI application: the server's 500 and a traceback in its log, for any client.
:class:`StaticFilesHandler` answers such a path ``404``, as it answers any
other file it does not have. ``python -m sse.daphne`` uses it under ``DEBUG``;
an ``asgi.py`` that serves static files itself wraps its application in it::

    application = StaticFilesHandler(get_asgi_application())
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousOperation
from django.core.handlers.exception import response_for_exception
from django.http import Http404, HttpRequest, HttpResponseBase

from sse.server.body_timeout import Receive, Send, bounded_receive

Scope = dict[str, Any]

__all__ = ["StaticFilesHandler"]


class StaticFilesHandler(ASGIStaticFilesHandler):
    """Django's ``ASGIStaticFilesHandler``; a path outside the static folders is a 404.

    A static path's request body is bounded as the application's are
    (``sse.server.body_timeout``): a ``408`` once ``SSE_BODY_TIMEOUT_SECONDS`` have passed.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._should_handle(scope["path"]):
            receive = bounded_receive(scope, receive, send)
        await super().__call__(scope, receive, send)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        try:
            return await super().get_response_async(request)
        except SuspiciousOperation:
            return await sync_to_async(response_for_exception, thread_sensitive=False)(
                request, Http404("no such static file")
            )
