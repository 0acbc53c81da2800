"""Mounted at the site root: /dashboard/, /dashboard/stream/ and /metrics."""

from django.urls import path

from notifications import views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/stream/", views.dashboard_stream, name="dashboard-stream"),
    path("metrics", views.metrics, name="metrics"),
]
