"""The JSON endpoints of the sse app (Django REST framework: the ``api`` extra).

Mount with ``path("api/sse/", include("sse.api.urls"))``: stream tokens,
publishing over HTTP, and this process's hub figures.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from asgiref.sync import async_to_sync
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from sse.api.guards import StrictJSONParser, exception_handler
from sse.auth.tokens import issue_token
from sse.channels.registry import ChannelNotFound, check_access, validate_channel_name
from sse.hub.channel_hub import ChannelHub
from sse.hub.stats import Counts, figures, visible_to
from sse.publishing.publish import publish
from sse.streams.access import MAX_CHANNELS_PER_STREAM, not_allowed_message

__all__ = ["PublishView", "StatsView", "TokenView"]


def _channel_name(value: str) -> None:
    try:
        validate_channel_name(value)
    except ValueError as exc:
        raise serializers.ValidationError(str(exc)) from None


class _JSONView(APIView):
    """JSON in and out, whatever the project's REST_FRAMEWORK says: the sse app stands alone.

    JSON bodies go through ``StrictJSONParser`` (too deep or invalid Unicode: 400; forms are
    decoded by Django, which replaces what is not valid UTF-8), errors through
    ``sse.api.guards`` (the database down: 503 with Retry-After; never an HTML page).
    JSON out only: the browsable API needs the host project's templates, and without them
    it is a 500.
    """

    parser_classes = [StrictJSONParser, FormParser, MultiPartParser]
    renderer_classes = [JSONRenderer]

    def get_exception_handler(self) -> Any:
        return exception_handler


class TokenRequestSerializer(serializers.Serializer[Any]):
    channels = serializers.ListField(
        child=serializers.CharField(validators=[_channel_name], trim_whitespace=False),
        allow_empty=False,
        max_length=MAX_CHANNELS_PER_STREAM,
    )


class TokenView(_JSONView):
    """POST /api/sse/tokens/ {"channels": [...]} -> 201 {"token", "expires_at"}."""

    permission_classes = [IsAuthenticated]

    def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channels = sorted(set(serializer.validated_data["channels"]))
        for name in channels:
            try:
                allowed = async_to_sync(check_access)(request.user, name)
            except ChannelNotFound:
                return Response({"detail": f"channel {name} not found"}, status=404)
            if not allowed:
                return Response(
                    {"detail": not_allowed_message(name)},
                    status=status.HTTP_403_FORBIDDEN,
                )
        # Bound to this session and password: a sign-out or a password change ends the token.
        session = getattr(request, "session", None)
        token = issue_token(request.user, channels, session_key=getattr(session, "session_key", None))
        return Response(
            {"token": token.token, "expires_at": token.expires_at.isoformat(), "channels": channels},
            status=status.HTTP_201_CREATED,
        )


class CanPublish(BasePermission):
    message = "publishing needs a staff account with the sse.publish_event permission"

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff and user.has_perm("sse.publish_event"))


class PublishRequestSerializer(serializers.Serializer[Any]):
    channel = serializers.CharField(validators=[_channel_name], trim_whitespace=False)
    event = serializers.CharField(required=False, allow_null=True, max_length=100, trim_whitespace=False)
    data = serializers.JSONField()  # type: ignore[assignment]  # the metaclass pops fields: .data stays a property


class PublishView(_JSONView):
    """POST /api/sse/publish/ {"channel", "event", "data"} -> 201 {"id"}."""

    permission_classes = [CanPublish]

    def post(self, request: Request) -> Response:
        serializer = PublishRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            event_id = publish(data["channel"], data["data"], event=data.get("event"))
        except ValueError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"id": event_id}, status=status.HTTP_201_CREATED)


class IsStaff(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class StatsView(_JSONView):
    """GET /api/sse/stats/: this process's hub figures (staff), with only the channels the
    caller may read in ``streams_by_channel``."""

    permission_classes = [IsStaff]

    def get(self, request: Request) -> Response:
        hub = ChannelHub.running()
        if hub is None:
            # Every figure, all zero: the same keys whether or not a hub runs here.
            empty = asdict(figures(Counts(), (), {}, users=0, layer_members=0))
            return Response({**empty, "running": False})
        stats = async_to_sync(_stats_on_loop)(hub, request.user)
        return Response({**stats, "running": True})


async def _stats_on_loop(hub: ChannelHub, user: Any) -> dict[str, Any]:
    return asdict(await visible_to(user, hub.stats()))
