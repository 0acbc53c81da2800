from django.urls import path

from bench.projectbench.views import burst
from project.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("bench/burst/", burst), *project_urlpatterns]
