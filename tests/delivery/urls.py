from django.urls import include, path

urlpatterns = [
    path("sse/", include("sse.urls")),
    path("api/sse/", include("sse.api.urls")),
]
