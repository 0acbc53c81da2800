from django.urls import path

from chat import api

# <str:slug>: any other slug is a JSON 404 from the view, like a missing room.
urlpatterns = [
    path("rooms/", api.RoomList.as_view(), name="chat-api-rooms"),
    path("<str:slug>/messages/", api.MessageList.as_view(), name="chat-api-messages"),
    path("<str:slug>/presence/", api.PresenceView.as_view(), name="chat-api-presence"),
    path("<str:slug>/read/", api.ReadView.as_view(), name="chat-api-read"),
    path("<str:slug>/typing/", api.TypingView.as_view(), name="chat-api-typing"),
]
