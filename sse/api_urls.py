"""Mount with ``path("api/sse/", include("sse.api_urls"))``."""

from django.urls import path

from sse import views

app_name = "sse-api"

urlpatterns = [
    path("tokens/", views.TokenView.as_view(), name="tokens"),
    path("publish/", views.PublishView.as_view(), name="publish"),
    path("stats/", views.StatsView.as_view(), name="stats"),
]
