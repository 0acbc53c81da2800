"""The room page (works with and without JavaScript) and the room's stream."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

import sse
from chat import presence, services
from chat.access import readable_room
from chat.conf import conf
from chat.models import Room

__all__ = ["room", "stream"]


def _room_or_404(request: HttpRequest, slug: str) -> Room:
    try:
        return readable_room(request.user, slug)
    except Room.DoesNotExist:
        raise Http404("No such chat room.") from None


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def room(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the page. POST (the form without JavaScript): post, then redirect back."""
    current = _room_or_404(request, slug)
    error = ""
    status = 200
    draft = ""
    retry_after = 0
    if request.method == "POST":
        draft = request.POST.get("body", "")
        try:
            services.post_message(current, request.user, draft)
        except services.InvalidMessage as exc:
            error, status = str(exc), 400
        except services.RateLimited as exc:
            error, status, retry_after = str(exc), 429, exc.wait
        else:
            # Post/redirect/get: a reload does not send the message again.
            return redirect(current)
    size = conf.HISTORY_ON_PAGE
    # One more than the page holds: whether "Load older messages" has anything to load.
    messages = list(current.messages.select_related("author").order_by("-created", "-id")[: size + 1])
    has_older = len(messages) > size
    messages = messages[:size]
    messages.reverse()
    if request.method != "HEAD":
        services.mark_read(request.user, current)
    rooms = list(Room.objects.readable_by(request.user).order_by("slug"))
    counts = services.unread_counts(request.user, rooms)
    context = {
        "room": current,
        "rooms": [(r, counts[r.pk]) for r in rooms],
        "messages": messages,
        "has_older": has_older,
        "present": presence.present_users(current),
        "error": error,
        "retry_after": retry_after,
        "draft": draft,
        "max_length": conf.MAX_MESSAGE_LENGTH,
        "user_channel": services.user_channel(request.user.pk),
        "unread_cap": services.UNREAD_CAP,
    }
    response = render(request, "chat/room.html", context, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@require_GET
async def stream(request: HttpRequest, slug: str) -> HttpResponse:
    """GET /chat/<slug>/stream/: ``message`` and ``presence`` events of one room
    (two channels: the room's messages and its ephemeral presence channel)."""
    return await sse.open_stream(request, [f"chat.room.{slug}", f"chat.presence.{slug}"])
