"""Pages and streams: /notifications/, its stream, and the staff dashboard."""

from __future__ import annotations

import hmac
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.http import require_GET

from notifications.channels import BROADCAST, DASHBOARD, dashboard_viewer_channel, html_channel, user_channel
from notifications.dashboard import ensure_sampler
from notifications.metrics import render as render_metrics
from notifications.models import Notification
from notifications.services import broadcasts_for, unread_count
from sse import ChannelHub, StreamRefused, authenticate_stream, open_stream

PAGE_SIZE = 50


@require_GET
@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    """The notification centre: ``show=unread`` or all (with the user's broadcasts), newest
    first, PAGE_SIZE at a time; ``before=<id>`` pages on from that notification (a keyset: a
    notification arriving meanwhile shifts nothing). Every notification the API holds is
    reachable through the "Older" links, and the counts say how many there are."""
    user = request.user
    show = "unread" if request.GET.get("show") == "unread" else "all"
    mine = Notification.objects.filter(recipient=user).order_by("-created", "-id")
    shown = mine.filter(read_at__isnull=True) if show == "unread" else mine
    before = _cursor(mine, request.GET.get("before", ""))
    if before is not None:
        shown = shown.filter(Q(created__lt=before.created) | Q(created=before.created, pk__lt=before.pk))
    rows = list(shown[: PAGE_SIZE + 1])
    items, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    if show == "all":
        entries = _with_broadcasts(user, items, before=before, more=more)
    else:
        entries = [{"kind": "notification", "item": n, "when": n.created} for n in items]
    unread = unread_count(user)
    context = {
        "notifications": items,
        "entries": entries,
        "unread": unread,
        "total": mine.count(),
        "show": show,
        "paged": before is not None,
        "older": items[-1].pk if more else None,
    }
    return render(request, "notifications/list.html", context)


def _cursor(mine: QuerySet[Notification], value: str) -> Notification | None:
    """The notification a page starts after: one of the user's own, else none (the first page)."""
    if not value.isdigit() or len(value) > 18:
        return None
    return mine.filter(pk=int(value)).first()


def _with_broadcasts(
    user: Any, notifications: list[Notification], *, before: Notification | None, more: bool
) -> list[dict[str, Any]]:
    """The page's notifications and the user's broadcasts of the same period, newest first."""
    broadcasts = broadcasts_for(user)
    if before is not None:
        broadcasts = broadcasts.filter(sent_at__lt=before.created)
    if more:
        # Older broadcasts would sit among notifications of the next page.
        broadcasts = broadcasts.filter(sent_at__gte=notifications[-1].created)
    entries = [{"kind": "notification", "item": n, "when": n.created} for n in notifications]
    entries += [{"kind": "broadcast", "item": b, "when": b.sent_at} for b in broadcasts[:PAGE_SIZE]]
    entries.sort(key=lambda entry: entry["when"], reverse=True)
    return entries


# The vendored htmx builds (project/static/vendor/) the htmx page can run on: ?htmx=2 or 4
# (sse-htmx.js swaps what sse.js receives), or 2-ext (htmx 2's own SSE extension).
HTMX_SCRIPTS = {
    "2": "vendor/htmx/2.0.11/htmx.min.js",
    "2-ext": "vendor/htmx/2.0.11/htmx.min.js",
    "4": "vendor/htmx/4.0.1/htmx.min.js",
}


@require_GET
@login_required
def notification_list_htmx(request: HttpRequest) -> HttpResponse:
    """The list rendered here; new notifications arrive as HTML fragments swapped in by htmx."""
    version = request.GET.get("htmx", "2")
    if version not in HTMX_SCRIPTS:
        return HttpResponseBadRequest(
            f"htmx must be one of {', '.join(HTMX_SCRIPTS)}\n", content_type="text/plain; charset=utf-8"
        )
    items = list(Notification.objects.filter(recipient=request.user)[:PAGE_SIZE])
    context = {
        "notifications": items,
        "fragments_channel": html_channel(request.user.pk),
        "htmx_version": version,
        "htmx_script": HTMX_SCRIPTS[version],
        "htmx_extension": version == "2-ext",
    }
    return render(request, "notifications/htmx.html", context)


@require_GET
async def stream(request: HttpRequest) -> HttpResponse:
    """The signed-in user's channel plus ``broadcast``."""
    try:
        # Who is asking decides the channel; a token must then cover both channels.
        user = await authenticate_stream(request, [])
        channels = [user_channel(user.pk), BROADCAST]
        user = await authenticate_stream(request, channels)
    except StreamRefused as refused:
        return refused.response()
    return await open_stream(request, channels, user=user)


async def _staff_or_refusal(request: HttpRequest, *, page: bool) -> HttpResponse | None:
    user = await request.auser()
    if not user.is_authenticated:
        if page:
            return redirect_to_login(request.get_full_path())
        return HttpResponse("sign in as staff\n", status=401, content_type="text/plain; charset=utf-8")
    if not user.is_staff:
        if page:  # a person's browser: the refusal in the site's layout
            reason = "The dashboard is for staff."
            return await sync_to_async(render)(request, "403.html", {"reason": reason}, status=403)
        return HttpResponse("staff only\n", status=403, content_type="text/plain; charset=utf-8")
    return None


@require_GET
async def dashboard(request: HttpRequest) -> HttpResponse:
    refusal = await _staff_or_refusal(request, page=True)
    if refusal is not None:
        return refusal
    sampler = ensure_sampler(ChannelHub.current())
    await sampler.refresh(rates=False)
    user = await request.auser()
    context = {
        "figures": sampler.figures(),
        "history": list(sampler.history),
        # Channel names: only those this staff member may read, here and on their own channel.
        "channels": await sampler.channels_for(user),
        "viewer_channel": dashboard_viewer_channel(user.pk),
    }
    return await sync_to_async(render)(request, "notifications/dashboard.html", context)


@require_GET
async def dashboard_stream(request: HttpRequest) -> HttpResponse:
    # Its opening starts this process's once-a-second figures (notifications.dashboard), as
    # any stream carrying the dashboard channel does.
    return await open_stream(request, [DASHBOARD])


def _metrics_allowed_by_token(request: HttpRequest) -> bool:
    expected = getattr(settings, "DASHBOARD_METRICS_TOKEN", "")
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), expected)


@require_GET
async def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text: staff sessions, a bearer DASHBOARD_METRICS_TOKEN, or anyone if
    DASHBOARD_METRICS_PUBLIC is set (for a scraper on a private network)."""
    if not getattr(settings, "DASHBOARD_METRICS_PUBLIC", False) and not _metrics_allowed_by_token(request):
        refusal = await _staff_or_refusal(request, page=False)
        if refusal is not None:
            return refusal
    sampler = ensure_sampler(ChannelHub.current())
    await sampler.refresh(rates=False)
    body = render_metrics(sampler.figures())
    response = HttpResponse(body, content_type="text/plain; version=0.0.4; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response
