"""django-eventstream's send_event, and the per-stream channel-layer view.

The layer view is the straightforward translation of a NestJS ``SseService``:
each stream gets its own channel-layer channel in a group, and a broadcast is
one ``group_send``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from channels.layers import get_channel_layer
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django_eventstream import send_event

GROUP = "bench"


@csrf_exempt
def eventstream_publish(request: HttpRequest) -> HttpResponse:
    body = json.loads(request.body)
    send_event("bench", body.get("event") or "message", body["data"])
    return JsonResponse({"ok": True}, status=201)


@csrf_exempt
def eventstream_burst(request: HttpRequest) -> HttpResponse:
    start, count = int(request.GET["start"]), int(request.GET["n"])
    for number in range(start, start + count):
        send_event("bench", "bench", {"b": number})
    return JsonResponse({"sent": count}, status=201)


async def layer_stream(request: HttpRequest) -> HttpResponse:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(GROUP, channel)

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b": open\n\n"
            while True:
                message = await layer.receive(channel)
                yield f"event: {message['event']}\ndata: {message['data']}\n\n".encode()
        finally:
            await layer.group_discard(GROUP, channel)

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    return response


async def _send(event: str, data: object) -> None:
    layer = get_channel_layer()
    text = json.dumps(data, separators=(",", ":"))
    await layer.group_send(GROUP, {"type": "sse.event", "event": event, "data": text})


@csrf_exempt
async def layer_publish(request: HttpRequest) -> HttpResponse:
    body = json.loads(request.body)
    await _send(body.get("event") or "message", body["data"])
    return JsonResponse({"ok": True}, status=201)


@csrf_exempt
async def layer_burst(request: HttpRequest) -> HttpResponse:
    start, count = int(request.GET["start"]), int(request.GET["n"])
    for number in range(start, start + count):
        await _send("bench", {"b": number})
    return JsonResponse({"sent": count}, status=201)
