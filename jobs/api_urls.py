from django.urls import path

from jobs import api

app_name = "jobs-api"

urlpatterns = [
    path("", api.JobListView.as_view(), name="list"),
    path("kinds/", api.JobKindsView.as_view(), name="kinds"),
    path("<uuid:job_id>/", api.JobDetailView.as_view(), name="detail"),
    path("<uuid:job_id>/cancel/", api.JobCancelView.as_view(), name="cancel"),
]
