"""Mounted at /console/: the operator console, its disconnect action and its composer."""

from django.urls import path

from notifications import console_views

app_name = "console"

urlpatterns = [
    path("", console_views.console, name="index"),
    path("streams/disconnect/", console_views.disconnect, name="disconnect"),
    path("compose/", console_views.compose, name="compose"),
]
