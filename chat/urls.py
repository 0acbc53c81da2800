from django.urls import path, register_converter

from chat import views
from chat.models import SLUG_MAX_LENGTH


class RoomSlugConverter:
    # At most as long as a room slug can be, so chat.room.<slug> is always a valid
    # channel name; anything else is a plain 404 like a missing room.
    regex = rf"[A-Za-z0-9_-]{{1,{SLUG_MAX_LENGTH}}}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(RoomSlugConverter, "room")

app_name = "chat"

urlpatterns = [
    path("<room:slug>/", views.room, name="room"),
    path("<room:slug>/stream/", views.stream, name="stream"),
]
