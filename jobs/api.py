"""The jobs JSON API, with Django REST framework."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.access import visible_job
from jobs.errors import SubmissionError
from jobs.kinds import all_kinds, describe
from jobs.models import Job
from jobs.outcomes import cancel_job
from jobs.submission import create_job, validate_submission

__all__ = ["JobCancelView", "JobDetailView", "JobKindsView", "JobListView", "JobSerializer"]


class JobSerializer(serializers.ModelSerializer[Job]):
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    percent = serializers.IntegerField(read_only=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)
    stream_url = serializers.CharField(read_only=True)
    channel = serializers.CharField(read_only=True)
    download_url = serializers.CharField(read_only=True, allow_null=True)
    cancel_url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id", "kind", "params", "status", "done", "total", "percent", "message", "result", "error",
            "owner", "created", "started", "finished", "exited", "worker", "url", "stream_url", "channel",
            "download_url", "cancel_url",
        ]  # fmt: skip
        read_only_fields = fields

    def get_cancel_url(self, job: Job) -> str:
        return f"/api/jobs/{job.id}/cancel/"


class JobListView(ListAPIView):  # type: ignore[type-arg]
    """GET /api/jobs/: your jobs, newest first. POST: start one ({"kind", "params"})."""

    serializer_class = JobSerializer

    def get_queryset(self) -> Any:
        return Job.objects.filter(owner_id=self.request.user.pk).select_related("owner").order_by("-created")

    def post(self, request: Request) -> Response:
        body = request.data
        if not isinstance(body, dict):
            return Response({"non_field_errors": ['send a JSON object: {"kind", "params"}']}, status=400)
        try:
            if "kind" not in body:
                raise SubmissionError({"kind": ["this field is required"]})
            kind, params = validate_submission(request.user, body.get("kind"), body.get("params"))
            job = create_job(request.user, kind, params)
        except SubmissionError as exc:
            return Response(exc.errors, status=exc.status)
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)


class JobKindsView(APIView):
    """GET /api/jobs/kinds/: each kind with its parameters."""

    def get(self, request: Request) -> Response:
        return Response([describe(kind, request.user) for kind in all_kinds()])


def _job(request: Request, job_id: UUID) -> Job:
    job = visible_job(request.user, job_id)
    if job is None:
        raise NotFound("no such job")
    return job


class JobDetailView(APIView):
    """GET /api/jobs/<uuid>/: the job (owner or staff)."""

    def get(self, request: Request, job_id: UUID) -> Response:
        return Response(JobSerializer(_job(request, job_id)).data)


class JobCancelView(APIView):
    """POST /api/jobs/<uuid>/cancel/: 200, and the job's stream gets ``cancelled``."""

    def post(self, request: Request, job_id: UUID) -> Response:
        job = _job(request, job_id)
        if not cancel_job(job):
            return Response(
                {"detail": f"the job already finished ({job.status})", "job": JobSerializer(job).data},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(JobSerializer(job).data)
