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

from asgiref.sync import sync_to_async
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousOperation
from django.core.handlers.exception import response_for_exception
from django.http import Http404, HttpRequest, HttpResponseBase

__all__ = ["StaticFilesHandler"]


class StaticFilesHandler(ASGIStaticFilesHandler):
    """Django's ``ASGIStaticFilesHandler``; a path outside the static folders is a 404."""

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        try:
            return await super().get_response_async(request)
        except SuspiciousOperation:
            return await sync_to_async(response_for_exception, thread_sensitive=False)(
                request, Http404("no such static file")
            )
