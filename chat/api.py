"""JSON API: the rooms a user may read, a room's messages, posting."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from rest_framework import exceptions, generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import presence, services
from chat.access import readable_room
from chat.models import Message, Room


class RoomSerializer(serializers.ModelSerializer[Room]):
    channel = serializers.CharField(read_only=True)
    url = serializers.SerializerMethodField()
    stream_url = serializers.SerializerMethodField()

    class Meta:
        model = Room
        fields = ["slug", "name", "private", "channel", "url", "stream_url"]
        read_only_fields = fields

    def get_url(self, room: Room) -> str:
        return room.get_absolute_url()

    def get_stream_url(self, room: Room) -> str:
        return reverse("chat:stream", args=[room.slug])


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
    """GET /api/chat/rooms/: the rooms the caller may read."""

    serializer_class = RoomSerializer

    def get_queryset(self) -> QuerySet[Room]:
        return Room.objects.readable_by(self.request.user).order_by("slug")


class MessageList(generics.ListCreateAPIView[Message]):
    """GET: the newest page of a room's messages (newest first). POST {"body"}: 201."""

    serializer_class = MessageSerializer

    def get_queryset(self) -> QuerySet[Message]:
        room = _room_or_404(self.request, self.kwargs["slug"])
        return room.messages.select_related("room", "author").order_by("-created", "-id")

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


class PresenceView(APIView):
    """GET /api/chat/<slug>/presence/: {users} (what a page reloads after a ``reset``)."""

    def get(self, request: Request, slug: str) -> Response:
        room = _room_or_404(request, slug)
        return Response({"room": room.slug, "users": presence.present_users(room)})
