"""Pages: the job list with a form per kind, a job's page, its download, its cancel button."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
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

__all__ = ["cancel", "detail", "download", "index", "job_stream", "readable"]

LIST_SIZE = 30
TEXT_SHOWN = 60  # characters of a text param shown on the pages (a CSV can be a megabyte)


def readable(value: Any) -> str:
    """A param value as people read it: 1,000,000; 0.5; long text cut short.

    jobs.js formats values the same way for rows it adds itself.
    """
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    text = value if isinstance(value, str) else json.dumps(value, cls=DjangoJSONEncoder)
    if len(text) > TEXT_SHOWN:
        return f"{text[:TEXT_SHOWN]}… ({len(text):,} characters)"
    return text


def param_labels(kind: Any) -> dict[str, str]:
    """A kind's param names as its form labels them ("Seconds per step", not seconds_per_step)."""
    if kind is None:
        return {}
    return {
        name: str(field.label or name.replace("_", " ").capitalize())
        for name, field in kind.form_class.base_fields.items()
    }


def _for_display(job: Job) -> Job:
    # What the templates show instead of raw values: the kind's title, params as name: value.
    kind = get_kind(job.kind)
    job.kind_title = kind.title if kind else job.kind  # type: ignore[attr-defined]
    params = job.params if isinstance(job.params, dict) else {}
    labels = param_labels(kind)
    job.param_items = [(labels.get(name, name), readable(value)) for name, value in params.items()]  # type: ignore[attr-defined]
    job.done_text, job.total_text = readable(job.done), readable(job.total)  # type: ignore[attr-defined]
    result = job.result if isinstance(job.result, dict) else {}
    job.result_items = [(name, readable(value)) for name, value in result.items()]  # type: ignore[attr-defined]
    job.bytes_text = readable(result.get("bytes"))  # type: ignore[attr-defined]
    return job


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
    jobs = [
        _for_display(job)
        for job in Job.objects.filter(owner_id=request.user.pk).order_by("-created")[:LIST_SIZE]
    ]
    context = {
        "jobs": jobs,
        "forms": _forms(request.user, bound_kind, bound),
        "limit_error": limit_error,
        "kind_titles": {kind.name: kind.title for kind in all_kinds()},
        "param_labels": {kind.name: param_labels(kind) for kind in all_kinds()},
    }
    return render(request, "jobs/job_list.html", context, status=status)


def _job_or_404(request: HttpRequest, job_id: UUID) -> Job:
    job = visible_job(request.user, job_id)
    if job is None:
        raise Http404("no such job")
    return job


@login_required
@require_GET
def detail(request: HttpRequest, job_id: UUID) -> HttpResponse:
    job = _for_display(_job_or_404(request, job_id))
    return render(request, "jobs/job_detail.html", {"job": job})


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
