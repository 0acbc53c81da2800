"""The stream endpoint: ``GET /sse/stream/?channel=A&channel=B``.

Plain Django: no Django REST framework here, so ``include("sse.urls")`` works
without the ``api`` extra. The JSON endpoints live in :mod:`sse.api.views`.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET

from sse.streams.access import StreamRefused, channels_from_query
from sse.streams.stream import open_stream

__all__ = ["stream"]


@require_GET
async def stream(request: HttpRequest) -> HttpResponseBase:
    """GET /sse/stream/?channel=A&channel=B: any channels the requester may read."""
    try:
        channels = channels_from_query(request)
    except StreamRefused as refused:
        return refused.response()
    return await open_stream(request, channels)
