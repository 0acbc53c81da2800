from django.urls import path

from notifications import api

app_name = "notifications-api"

urlpatterns = [
    path("", api.NotificationListView.as_view(), name="list"),
    path("<int:pk>/read/", api.MarkReadView.as_view(), name="read"),
    path("read-all/", api.ReadAllView.as_view(), name="read-all"),
    path("broadcasts/", api.BroadcastListView.as_view(), name="broadcasts"),
    path("broadcasts/<int:pk>/dismiss/", api.DismissBroadcastView.as_view(), name="dismiss-broadcast"),
]
