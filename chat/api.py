"""JSON API: the rooms a user may read (with unread counts), a room's messages (newest
page, or older pages with ``?before=<id>``), posting, marking read, typing."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.urls import reverse
from rest_framework import exceptions, generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import presence, services
from chat.access import readable_room
from chat.conf import conf
from chat.models import Message, Room


class RoomSerializer(serializers.ModelSerializer[Room]):
    channel = serializers.CharField(read_only=True)
    url = serializers.SerializerMethodField()
    stream_url = serializers.SerializerMethodField()
    unread = serializers.SerializerMethodField()
    last_id = serializers.SerializerMethodField()

    class Meta:
        model = Room
        fields = ["slug", "name", "private", "channel", "url", "stream_url", "unread", "last_id"]
        read_only_fields = fields

    def get_url(self, room: Room) -> str:
        return room.get_absolute_url()

    def get_stream_url(self, room: Room) -> str:
        return reverse("chat:stream", args=[room.slug])

    def _counts(self, room: Room) -> dict[str, int]:
        return dict(self.context.get("unread", {}).get(room.pk, {"unread": 0, "last_id": 0}))

    def get_unread(self, room: Room) -> int:
        return self._counts(room)["unread"]

    def get_last_id(self, room: Room) -> int:
        return self._counts(room)["last_id"]


class MessageSerializer(serializers.Serializer[Message]):
    """The ``message`` event's shape: {id, room, user, body, created}."""

    body = serializers.CharField(trim_whitespace=False, allow_blank=True)

    def to_representation(self, message: Message) -> dict[str, Any]:
        data = message.as_event()
        data["created"] = serializers.DateTimeField().to_representation(message.created)
        return data

    def validate_body(self, value: str) -> str:
        try:
            return services.clean_body(value)
        except services.InvalidMessage as exc:
            raise serializers.ValidationError(str(exc)) from None


def _room_or_404(request: Request, slug: str) -> Room:
    try:
        return readable_room(request.user, slug)
    except Room.DoesNotExist:
        raise exceptions.NotFound(f"No chat room {slug!r}.") from None


class RoomList(generics.ListAPIView[Room]):
    """GET /api/chat/rooms/: the rooms the caller may read, each with ``unread`` (messages
    of others since the caller last viewed it, at most 100) and ``last_id`` (its newest
    message id: ``room_activity`` events at or below it are already counted)."""

    serializer_class = RoomSerializer

    def get_queryset(self) -> QuerySet[Room]:
        return Room.objects.readable_by(self.request.user).order_by("slug")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rooms = self.paginate_queryset(self.get_queryset())
        assert rooms is not None  # the project always paginates
        counts = services.unread_counts(request.user, list(rooms))
        serializer = self.get_serializer(
            rooms, many=True, context={**self.get_serializer_context(), "unread": counts}
        )
        return self.get_paginated_response(serializer.data)


def _before_cursor(request: Request, room: Room) -> Message | None:
    """The message ``?before=`` names, in ``room``; None without the parameter."""
    raw = request.query_params.get("before")
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise exceptions.ValidationError(
            {"before": [f"before must be a message id (a whole number), not {raw[:40]!r}."]}
        )
    try:
        return room.messages.get(pk=int(raw))
    except Message.DoesNotExist:
        raise exceptions.NotFound(f"No message {raw} in chat room {room.slug!r}.") from None


class MessageList(generics.ListCreateAPIView[Message]):
    """GET: the newest page of a room's messages (newest first); ``?before=<id>``: the page
    of messages older than that one, as {results, next, previous} (``next`` the URL of the
    page before it, null at the oldest). POST {"body"}: 201."""

    serializer_class = MessageSerializer

    def get_queryset(self) -> QuerySet[Message]:
        room = _room_or_404(self.request, self.kwargs["slug"])
        return room.messages.select_related("room", "author").order_by("-created", "-id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        room = _room_or_404(request, kwargs["slug"])
        cursor = _before_cursor(request, room)
        if cursor is None:
            return super().list(request, *args, **kwargs)
        return Response(older_page(request, room, cursor))

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        room = _room_or_404(request, kwargs["slug"])
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            message = services.post_message(room, request.user, serializer.validated_data["body"])
        except services.InvalidMessage as exc:
            raise exceptions.ValidationError({"body": [str(exc)]}) from None
        except services.RateLimited as exc:
            # DRF answers 429 with a Retry-After header.
            raise exceptions.Throttled(wait=exc.wait, detail="You are sending messages too fast.") from None
        return Response(self.get_serializer(message).data, status=status.HTTP_201_CREATED)


def older_page(request: Request, room: Room, cursor: Message) -> dict[str, Any]:
    """The messages before ``cursor`` (in the page's order: created, then id), newest first."""
    size = conf.HISTORY_ON_PAGE
    older = (
        room.messages.select_related("room", "author")
        .filter(Q(created__lt=cursor.created) | Q(created=cursor.created, id__lt=cursor.pk))
        .order_by("-created", "-id")
    )
    page = list(older[: size + 1])
    more = len(page) > size
    page = page[:size]
    next_url = None
    if more:
        path = reverse("chat-api-messages", args=[room.slug])
        next_url = request.build_absolute_uri(f"{path}?before={page[-1].pk}")
    return {
        "next": next_url,
        "previous": None,
        "results": MessageSerializer(page, many=True).data,
    }


class ReadView(APIView):
    """POST /api/chat/<slug>/read/: the caller has seen every message of the room (the page
    sends it while open); {room, last_read_id}."""

    def post(self, request: Request, slug: str) -> Response:
        room = _room_or_404(request, slug)
        return Response({"room": room.slug, "last_read_id": services.mark_read(request.user, room)})


class TypingView(APIView):
    """POST /api/chat/<slug>/typing/: ``typing`` {room, user} to the room's ephemeral
    typing channel; 204 (also when ignored for coming too fast)."""

    def post(self, request: Request, slug: str) -> Response:
        room = _room_or_404(request, slug)
        services.signal_typing(room, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PresenceView(APIView):
    """GET /api/chat/<slug>/presence/: {users} (what a page reloads after a ``reset``)."""

    def get(self, request: Request, slug: str) -> Response:
        room = _room_or_404(request, slug)
        return Response({"room": room.slug, "users": presence.present_users(room)})
