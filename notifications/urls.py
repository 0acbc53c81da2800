from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.notification_list, name="list"),
    path("stream/", views.stream, name="stream"),
    path("htmx/", views.notification_list_htmx, name="htmx"),
]
