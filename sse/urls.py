"""Mount with ``path("sse/", include("sse.urls"))``."""

from django.urls import path

from sse import views

app_name = "sse"

urlpatterns = [
    path("stream/", views.stream, name="stream"),
]
