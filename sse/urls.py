"""Mount with ``path("sse/", include("sse.urls"))``."""

from django.urls import path

from sse.installed import require_installed

require_installed("sse.urls")

from sse.streams import views  # noqa: E402

app_name = "sse"

urlpatterns = [
    path("stream/", views.stream, name="stream"),
]
