"""Mount with ``path("api/sse/", include("sse.api.urls"))``: needs the ``api`` extra (DRF)."""

from django.core.exceptions import ImproperlyConfigured
from django.urls import path

from sse.installed import require_installed

require_installed("sse.api.urls")

try:
    from sse.api import views as api
except ImportError as exc:  # pragma: no cover - depends on what is installed
    if exc.name is None or not exc.name.startswith("rest_framework"):
        raise
    raise ImproperlyConfigured(
        "sse.api.urls needs Django REST framework: pip install 'django-live-sse[api]' "
        "(the stream endpoint, sse.urls, works without it)."
    ) from exc

app_name = "sse-api"

urlpatterns = [
    path("tokens/", api.TokenView.as_view(), name="tokens"),
    path("publish/", api.PublishView.as_view(), name="publish"),
    path("stats/", api.StatsView.as_view(), name="stats"),
]
