"""The operator console: /console/, its disconnect action and its composer (staff with
``notifications.use_console``; see notifications.console for what the page streams)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from notifications import services
from notifications.channels import BROADCAST, user_channel
from notifications.console import (
    REASON_CHARS,
    can_use_console,
    ensure_console,
    last_row_id,
    online_streams,
    recent_events,
    request_disconnect,
    stream_report,
)
from notifications.dashboard import PROCESS
from notifications.models import Audience, Broadcast, Level, validate_link
from sse import ChannelHub

User = get_user_model()


async def _refusal(request: HttpRequest, *, page: bool) -> HttpResponse | None:
    """None for a console user; else a login redirect (a signed-out page view) or 401/403."""
    user = await request.auser()
    if not user.is_authenticated:
        if page:
            return redirect_to_login(request.get_full_path())
        return JsonResponse({"error": "sign in first"}, status=401)
    if not await sync_to_async(can_use_console)(user):
        if page:
            raise PermissionDenied("the console is for staff with the use_console permission")
        return JsonResponse({"error": "the console is for staff with the use_console permission"}, status=403)
    return None


class ComposeForm(forms.Form):
    """A broadcast (audience as in the admin) or a notification to chosen users."""

    kind = forms.ChoiceField(choices=[("broadcast", "Broadcast"), ("notification", "Notification")])
    title = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=4000)
    level = forms.ChoiceField(choices=Level.choices, initial=Level.INFO)
    url = forms.CharField(label="Link", max_length=500, required=False, validators=[validate_link])
    audience = forms.ChoiceField(choices=Audience.choices, initial=Audience.EVERYONE, required=False)
    group = forms.ModelChoiceField(queryset=Group.objects.order_by("name"), required=False)
    users = forms.ModelMultipleChoiceField(
        queryset=User._default_manager.filter(is_active=True).order_by(User.USERNAME_FIELD), required=False
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        kind, audience = data.get("kind"), data.get("audience")
        if kind == "broadcast" and not audience:
            self.add_error("audience", "choose who the broadcast goes to")
        if kind == "broadcast" and audience == Audience.GROUP and not data.get("group"):
            self.add_error("group", "choose the group this broadcast goes to")
        wants_users = kind == "notification" or audience == Audience.USERS
        if wants_users and not data.get("users"):
            self.add_error("users", "choose at least one user")
        return data


def _target(data: dict[str, Any]) -> tuple[list[str], list[Any] | None]:
    """The channels a message goes to, and its users (None: everyone signed in). Sync."""
    if data["kind"] == "notification":
        users = list(data["users"])
    else:
        draft = Broadcast(audience=data["audience"], group=data.get("group"))
        if draft.audience == Audience.USERS:
            users = list(data["users"])
        else:
            audience = services.audience_of(draft)
            if audience is None:
                return [BROADCAST], None
            users = list(audience)
    return [user_channel(user.pk) for user in users], users


def _send(data: dict[str, Any], sender: Any) -> None:
    """Through notifications.services, as the admin sends: pushed when the transaction commits."""
    with transaction.atomic():
        if data["kind"] == "notification":
            for user in data["users"]:
                services.notify(user, data["title"], data["body"], level=data["level"], url=data["url"])
            return
        broadcast = Broadcast.objects.create(
            title=data["title"],
            body=data["body"],
            level=data["level"],
            audience=data["audience"],
            group=data.get("group") if data["audience"] == Audience.GROUP else None,
            created_by=sender,
        )
        if data["audience"] == Audience.USERS:
            broadcast.users.set(data["users"])
        services.send_broadcast(broadcast)


def _who(users: list[Any] | None, online_keys: set[str]) -> dict[str, Any]:
    if users is None:  # everyone signed in: name who was online, not the whole site
        online = sorted(online_keys)
        return {"recipients": None, "online": [], "offline": [], "online_keys": online}
    names = {str(user.pk): user.get_username() for user in users}
    return {
        "recipients": len(users),
        "online": sorted(name for pk, name in names.items() if pk in online_keys),
        "offline": sorted(name for pk, name in names.items() if pk not in online_keys),
    }


def _names_of(keys: list[str]) -> list[str]:
    pks = [key for key in keys if key.isdigit()]
    return sorted(User._default_manager.filter(pk__in=pks).values_list(User.USERNAME_FIELD, flat=True))


@require_GET
async def console(request: HttpRequest) -> HttpResponse:
    refusal = await _refusal(request, page=True)
    if refusal is not None:
        return refusal
    hub = ChannelHub.current()
    # The tail goes on from what the page shows (read first: the page drops repeats).
    ensure_console(hub).prime_tail(await sync_to_async(last_row_id)())
    context = {
        "events": await sync_to_async(recent_events)(),
        "report": await stream_report(hub),
        "form": ComposeForm(),
    }
    return await sync_to_async(render)(request, "notifications/console.html", context)


@require_POST
async def disconnect(request: HttpRequest) -> HttpResponse:
    """End one open stream (it reconnects and resumes, as after a server restart); the
    operator's ``reason`` goes to the server log with their name."""
    refusal = await _refusal(request, page=False)
    if refusal is not None:
        return refusal
    process = request.POST.get("process", "")
    try:
        serial = int(request.POST.get("serial", ""))
    except ValueError:
        return JsonResponse({"error": "serial must be a stream number"}, status=400)
    reason = request.POST.get("reason", "").strip()[:REASON_CHARS]
    by = (await request.auser()).get_username()
    outcome = await request_disconnect(process, serial, reason, by)
    status = 404 if outcome == "gone" else 200
    answer = {"process": process, "serial": serial, "outcome": outcome, "reason": reason}
    return JsonResponse(answer, status=status)


@require_POST
async def compose(request: HttpRequest) -> HttpResponse:
    """``action=preview``: who it would reach now; ``action=send``: send it and say whom it reached.

    Streams are counted on this server process (exactly, before sending); the page adds
    the streams other processes reported (with REDIS_URL a viewer hears every process).
    """
    refusal = await _refusal(request, page=False)
    if refusal is not None:
        return refusal
    form = ComposeForm(request.POST)
    if not await sync_to_async(form.is_valid)():
        return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    data = form.cleaned_data
    channels, users = await sync_to_async(_target)(data)
    streams, online_keys = online_streams(ChannelHub.current(), channels)
    who = _who(users, online_keys)
    if users is None:
        who["online"] = await sync_to_async(_names_of)(who.pop("online_keys"))
    sent = request.POST.get("action") == "send"
    if sent:
        await sync_to_async(_send)(data, await request.auser())
    return JsonResponse(
        {
            "sent": sent,
            "kind": data["kind"],
            "process": PROCESS,
            "channels": channels,
            "streams": streams,
            **who,
        }
    )
