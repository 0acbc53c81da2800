from django.contrib import admin
from django.urls import include, path

from project import views

urlpatterns = [
    path("", views.home, name="home"),
    path("try/notification/", views.try_notification, name="try-notification"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("sse/", include("sse.urls")),
    path("api/sse/", include("sse.api.urls")),
    path("notifications/", include("notifications.urls")),
    path("api/notifications/", include("notifications.api_urls")),
    path("", include("notifications.dashboard_urls")),  # /dashboard/, /metrics
    path("console/", include("notifications.console_urls")),
    path("chat/", include("chat.urls")),
    path("api/chat/", include("chat.api_urls")),
    path("jobs/", include("jobs.urls")),
    path("api/jobs/", include("jobs.api_urls")),
]
