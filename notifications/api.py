"""JSON API: list, create (staff), mark read, read all; the user's broadcasts and their dismissal."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from rest_framework import generics, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications import services
from notifications.models import Broadcast, Level, Notification, validate_link

# How many of the user's broadcasts ride along with each page of notifications.
BROADCASTS_WITH_LIST = 20


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    read = serializers.BooleanField(source="is_read", read_only=True)
    kind = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "level", "url", "created", "read_at", "read"]
        read_only_fields = fields

    def get_kind(self, obj: Notification) -> str:
        return "notification"


class BroadcastSerializer(serializers.ModelSerializer[Broadcast]):
    """A broadcast as its audience sees it (services.broadcasts_for annotates ``dismissed``)."""

    kind = serializers.SerializerMethodField()
    created = serializers.DateTimeField(source="sent_at", read_only=True)
    active = serializers.BooleanField(source="is_active", read_only=True)
    dismissed = serializers.BooleanField(read_only=True)

    class Meta:
        model = Broadcast
        fields = ["id", "kind", "title", "body", "level", "created", "expires_at", "active", "dismissed"]
        read_only_fields = fields

    def get_kind(self, obj: Broadcast) -> str:
        return "broadcast"


class UserField(serializers.Field):  # type: ignore[type-arg]
    """A user given by primary key or by username."""

    default_error_messages = {
        "missing": "no user with the id or username {value!r}",
        "invalid": "give a user id (a number) or a username",
    }

    def to_internal_value(self, data: Any) -> Any:
        User = get_user_model()
        users = User._default_manager.filter(is_active=True)
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        text = str(data).strip()
        if not text or len(text) > 150:
            self.fail("invalid")
        found = None
        if text.isdigit() and len(text) < 19:
            found = users.filter(pk=int(text)).first()
        if found is None and isinstance(data, str):
            found = users.filter(**{User.USERNAME_FIELD: text}).first()
        if found is None:
            self.fail("missing", value=text)
        return found

    def to_representation(self, value: Any) -> Any:
        return value.pk


class CreateNotificationSerializer(serializers.Serializer[Any]):
    user = UserField()
    title = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    level = serializers.ChoiceField(choices=Level.choices, required=False, default=Level.INFO)
    url = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default="", validators=[validate_link]
    )


class IsStaffForWrites(BasePermission):
    message = "only staff may create notifications"

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method == "POST":
            return bool(request.user.is_staff)
        return True


class NotificationPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_paginated_response(self, data: Any) -> Response:
        response = super().get_paginated_response(data)
        # The badge count rides along so a client can restore its state from one call.
        user = self.request.user  # type: ignore[union-attr]
        response.data["unread"] = services.unread_count(user)
        # Broadcasts are not the user's own rows (no read mark, ids of their own): they come
        # beside the results, newest first, rather than mixed into them.
        broadcasts = services.broadcasts_for(user)[:BROADCASTS_WITH_LIST]
        response.data["broadcasts"] = BroadcastSerializer(broadcasts, many=True).data
        return response


class NotificationListView(generics.ListAPIView[Notification]):
    """GET: own notifications, newest first. POST (staff): notify a user."""

    serializer_class = NotificationSerializer
    permission_classes = [IsAuthenticated, IsStaffForWrites]
    pagination_class = NotificationPagination

    def get_queryset(self) -> QuerySet[Notification]:
        return Notification.objects.filter(recipient=self.request.user).order_by("-created", "-id")

    def post(self, request: Request) -> Response:
        serializer = CreateNotificationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        notification = services.notify(
            data["user"], data["title"], data["body"], level=data["level"], url=data["url"]
        )
        body = NotificationSerializer(notification).data
        return Response({**body, "user": notification.recipient_id}, status=status.HTTP_201_CREATED)


def _own(request: Request, pk: int) -> Notification | None:
    return Notification.objects.filter(pk=pk, recipient=request.user).first()


class MarkReadView(APIView):
    permission_classes = [IsAuthenticated]

    def post(self, request: Request, pk: int) -> Response:
        notification = _own(request, pk)
        if notification is None:
            # Someone else's looks the same as a missing one: ids are not a way to probe.
            return Response({"detail": "no such notification"}, status=status.HTTP_404_NOT_FOUND)
        services.mark_read(notification)
        return Response(
            {**NotificationSerializer(notification).data, "unread": services.unread_count(request.user)}
        )


class ReadAllView(APIView):
    permission_classes = [IsAuthenticated]

    def post(self, request: Request) -> Response:
        marked = services.mark_all_read(request.user)
        return Response({"marked": marked, "unread": services.unread_count(request.user)})


class BroadcastPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class BroadcastListView(generics.ListAPIView[Broadcast]):
    """GET: the broadcasts that went out to the caller's audience, newest first, with
    whether they are still active and whether the caller dismissed them."""

    serializer_class = BroadcastSerializer
    permission_classes = [IsAuthenticated]
    pagination_class = BroadcastPagination

    def get_queryset(self) -> QuerySet[Broadcast]:
        return services.broadcasts_for(self.request.user)


class DismissBroadcastView(APIView):
    """POST: close a broadcast's banner for the caller, in every browser they use."""

    permission_classes = [IsAuthenticated]

    def post(self, request: Request, pk: int) -> Response:
        broadcast = services.broadcasts_for(request.user).filter(pk=pk).first()
        if broadcast is None:
            # Outside the caller's audience looks the same as missing.
            return Response({"detail": "no such broadcast"}, status=status.HTTP_404_NOT_FOUND)
        services.dismiss_broadcast(request.user, broadcast)
        return Response({"id": broadcast.pk, "dismissed": True})
