from django.urls import include, path

from tests.sse_app import views

urlpatterns = [
    path("login/", views.sign_in),
    path("burst/", views.burst),
    path("countdown/", views.countdown),
    path("state-first/", views.state_first),
    path("whole-stream/", views.whole_stream),
    path("sync-stream/", views.sync_stream),
    path("slow/", views.slow),
    path("sse/", include("sse.urls")),
    path("api/sse/", include("sse.api.urls")),
]
