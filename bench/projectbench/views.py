"""Bench-only endpoints, mounted by bench/projectbench/urls.py and nowhere else.

- POST /bench/publish/ {"channel", "event", "data"}: one ``sse.publish()``, as lean as
  the peers' publish endpoints (no session, no DRF), so time-to-all compares fan-out
  rather than API layers. The durable log write stays. Loopback clients only.
- ``bench.throttled``: a throttled channel (``max_rate=5``) any signed-in user may read,
  so ``make bench`` measures what throttling costs a broadcast.
- POST /bench/burst/?start=S&n=N: N publish() calls on ``broadcast`` in one
  transaction, so the stream path, not SQLite's commit rate, is what the
  single-stream throughput measures; publish() on its own is measured apart
  (bench/publish_rate.py).
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

import sse


@sse.channel("bench.throttled", max_rate=5)
def can_read_throttled(user: Any) -> bool:
    return bool(user.is_authenticated)


def _refused(request: HttpRequest) -> HttpResponse | None:
    if request.META.get("REMOTE_ADDR") != "127.0.0.1":
        return HttpResponse("loopback only\n", status=403, content_type="text/plain")
    return None


@csrf_exempt
@require_POST
def publish(request: HttpRequest) -> HttpResponse:
    refused = _refused(request)
    if refused is not None:
        return refused
    body = json.loads(request.body)
    event_id = sse.publish(body["channel"], body["data"], event=body.get("event"))
    return JsonResponse({"id": event_id}, status=201)


@csrf_exempt
@require_POST
def burst(request: HttpRequest) -> HttpResponse:
    refused = _refused(request)
    if refused is not None:
        return refused
    start, count = int(request.GET["start"]), int(request.GET["n"])
    with transaction.atomic():
        for number in range(start, start + count):
            sse.publish("broadcast", {"b": number}, event="bench")
    return JsonResponse({"sent": count}, status=201)
