"""Pages: the job list with a form per kind, a job's page, its download, its cancel button."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs.access import visible_job
from jobs.errors import SubmissionError
from jobs.kinds import all_kinds, get_kind
from jobs.models import Job, JobFile
from jobs.outcomes import cancel_job
from jobs.stream import job_stream
from jobs.submission import create_job

__all__ = ["cancel", "detail", "download", "index", "job_stream"]

LIST_SIZE = 30


def _forms(user: Any, bound_kind: str | None = None, bound: Any = None) -> list[tuple[Any, Any]]:
    return [
        (kind, bound if kind.name == bound_kind else kind.form(user=user, prefix=kind.name))
        for kind in all_kinds()
    ]


@login_required
@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    status = 200
    bound_kind, bound, limit_error = None, None, None
    if request.method == "POST":
        # Without JavaScript the forms post here; with it they use POST /api/jobs/.
        kind = get_kind(request.POST.get("kind"))
        if kind is None:
            return HttpResponse("unknown job kind\n", status=400, content_type="text/plain; charset=utf-8")
        bound_kind, bound = kind.name, kind.form(request.POST, user=request.user, prefix=kind.name)
        if bound.is_valid():
            try:
                job = create_job(request.user, kind, dict(bound.cleaned_data))
            except SubmissionError as exc:
                limit_error, status = exc.errors.get("detail"), exc.status
            else:
                return redirect(job)
        else:
            status = 400
    jobs = Job.objects.filter(owner_id=request.user.pk).order_by("-created")[:LIST_SIZE]
    return render(
        request,
        "jobs/list.html",
        {"jobs": jobs, "forms": _forms(request.user, bound_kind, bound), "limit_error": limit_error},
        status=status,
    )


def _job_or_404(request: HttpRequest, job_id: UUID) -> Job:
    job = visible_job(request.user, job_id)
    if job is None:
        raise Http404("no such job")
    return job


@login_required
@require_GET
def detail(request: HttpRequest, job_id: UUID) -> HttpResponse:
    job = _job_or_404(request, job_id)
    kind = get_kind(job.kind)
    return render(request, "jobs/detail.html", {"job": job, "kind": kind})


@login_required
@require_GET
def download(request: HttpRequest, job_id: UUID) -> HttpResponse:
    job = _job_or_404(request, job_id)
    file = JobFile.objects.filter(job=job).first()
    if file is None:
        raise Http404("this job has no file")
    response = HttpResponse(bytes(file.content), content_type=file.content_type)
    response["Content-Disposition"] = f'attachment; filename="{file.name}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def cancel(request: HttpRequest, job_id: UUID) -> HttpResponse:
    job = _job_or_404(request, job_id)
    cancel_job(job)
    return redirect(job)
