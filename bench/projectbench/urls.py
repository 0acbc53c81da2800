from django.urls import path

from bench.projectbench.views import burst, publish
from project.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("bench/publish/", publish), path("bench/burst/", burst), *project_urlpatterns]
