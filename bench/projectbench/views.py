"""POST /bench/burst/?start=S&n=N (staff): N publish() calls on ``broadcast``, one transaction.

One transaction so the stream path, not SQLite's commit rate, is what the
single-stream throughput measures; publish() on its own is measured apart
(bench/publish_rate.py).
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_POST

import sse


@require_POST
def burst(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        return HttpResponse("staff only\n", status=403, content_type="text/plain")
    start, count = int(request.GET["start"]), int(request.GET["n"])
    with transaction.atomic():
        for number in range(start, start + count):
            sse.publish("broadcast", {"b": number}, event="bench")
    return JsonResponse({"sent": count}, status=201)
