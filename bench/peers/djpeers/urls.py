import django_eventstream
from django.urls import include, path

from bench.peers.djpeers import views

urlpatterns = [
    path("events/", include(django_eventstream.urls), {"channels": ["bench"]}),
    path("es/publish/", views.eventstream_publish),
    path("es/burst/", views.eventstream_burst),
    path("layer/stream/", views.layer_stream),
    path("layer/publish/", views.layer_publish),
    path("layer/burst/", views.layer_burst),
]
