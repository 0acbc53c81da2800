"""The job kinds the demo ships: primes, a CSV report, a column sum, slow steps."""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils import timezone

from jobs.kinds import JobError, ParamsForm, job_kind
from jobs.models import Job
from jobs.progress import JobContext
from sse.storage import ChannelSummary, get_event_log

# -- primes ----------------------------------------------------------------

PRIMES_MAX = 10**9


class PrimesForm(ParamsForm):
    below = forms.IntegerField(
        min_value=2,
        max_value=PRIMES_MAX,
        initial=10_000_000,
        help_text="count the primes below this number (2 to 1,000,000,000)",
    )


def _small_primes(limit: int) -> list[int]:
    if limit < 2:
        return []
    sieve = bytearray([1]) * (limit + 1)
    sieve[0] = sieve[1] = 0
    for i in range(2, math.isqrt(limit) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytes(len(range(i * i, limit + 1, i)))
    return [i for i, flag in enumerate(sieve) if flag]


def count_primes_between(lo: int, hi: int, base: list[int]) -> int:
    """Primes in [lo, hi), given every prime up to sqrt(hi) in ``base``."""
    if hi <= lo:
        return 0
    segment = bytearray([1]) * (hi - lo)
    for p in base:
        if p * p >= hi:
            break
        start = max(p * p, -(-lo // p) * p)
        if start < hi:
            segment[start - lo :: p] = bytes((hi - 1 - start) // p + 1)
    for n in range(lo, min(2, hi)):
        segment[n - lo] = 0
    return segment.count(1)


def primes_chunks(below: int) -> Iterator[tuple[int, int]]:
    # About 200 chunks: smooth progress without a report per number.
    size = max(10_000, min(1_000_000, -(-below // 200)))
    for lo in range(0, below, size):
        yield lo, min(below, lo + size)


@job_kind("primes", title="Count primes", form=PrimesForm)
def count_primes(job: JobContext, params: dict[str, Any]) -> dict[str, int]:
    """Counts the primes below N with a segmented sieve, one chunk at a time."""
    below = params["below"]
    base = _small_primes(math.isqrt(below))
    count = 0
    job.report(0, below, f"sieving below {below:,}")
    for lo, hi in primes_chunks(below):
        count += count_primes_between(lo, hi, base)
        job.report(hi, below, f"{count:,} primes below {hi:,}")
    return {"count": count}


# -- CSV report of the site's own data ---------------------------------------

REPORT_CHUNK = 100


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Spreadsheets run cells that start like a formula: keep them text.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text


def _jobs_rows(user: Any) -> tuple[list[str], Any]:
    qs = Job.objects.select_related("owner").order_by("created")
    if not user.is_staff:
        qs = qs.filter(owner_id=user.pk)
    header = [
        "id",
        "owner",
        "kind",
        "status",
        "percent",
        "created",
        "started",
        "finished",
        "seconds",
        "error",
    ]

    def row(job: Job) -> list[Any]:
        seconds = (job.finished - job.started).total_seconds() if job.finished and job.started else None
        return [
            job.id,
            job.owner.username,
            job.kind,
            job.status,
            job.percent,
            job.created.isoformat(),
            job.started.isoformat() if job.started else "",
            job.finished.isoformat() if job.finished else "",
            f"{seconds:.3f}" if seconds is not None else "",
            job.error,
        ]

    return header, (qs, row)


def _users_rows(user: Any) -> tuple[list[str], Any]:
    qs = get_user_model().objects.annotate(job_count=Count("jobs")).order_by("pk")
    header = ["id", "username", "staff", "active", "joined", "last_login", "jobs"]

    def row(u: Any) -> list[Any]:
        return [
            u.pk,
            u.get_username(),
            u.is_staff,
            u.is_active,
            u.date_joined.isoformat(),
            u.last_login.isoformat() if u.last_login else "",
            u.job_count,
        ]

    return header, (qs, row)


def _events_rows(user: Any) -> tuple[list[str], Any]:
    header = ["channel", "events_kept", "last_seq", "last_event_at"]

    def row(c: ChannelSummary) -> list[Any]:
        return [c.channel, c.events_kept, c.last_seq, c.last_event_at.isoformat() if c.last_event_at else ""]

    return header, (get_event_log().channel_summaries(), row)


DATASETS = {
    "jobs": ("Jobs (yours; every job for staff)", _jobs_rows, False),
    "users": ("Users and their job counts (staff)", _users_rows, True),
    "events": ("Event log per channel (staff)", _events_rows, True),
}


def zone_or_none(name: object) -> ZoneInfo | None:
    """The IANA zone called ``name`` ("America/New_York"), or None for anything else."""
    if not isinstance(name, str) or not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # a path-like key; ZoneInfoNotFoundError (a KeyError)
        return None


class ReportForm(ParamsForm):
    dataset = forms.ChoiceField(choices=(), initial="jobs", help_text="what the CSV file lists")
    # The file is named by the time it was built in the submitter's zone (the one the site
    # shows them; project.middleware.TimeZoneMiddleware activates it for the request).
    time_zone = forms.CharField(required=False, widget=forms.HiddenInput, label="Time zone", max_length=64)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].initial = timezone.get_current_timezone_name()
        staff = bool(self.user is not None and self.user.is_staff)
        self.fields["dataset"].choices = [
            (name, label) for name, (label, _rows, staff_only) in DATASETS.items() if staff or not staff_only
        ]

    def clean_time_zone(self) -> str:
        name = self.cleaned_data.get("time_zone") or timezone.get_current_timezone_name()
        if zone_or_none(name) is None:
            raise forms.ValidationError(f"unknown time zone {name!r}")
        return str(name)


@job_kind("report", title="CSV report", form=ReportForm)
def build_report(job: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Builds a CSV file of the site's own data (jobs; users and the event log for staff) to download."""
    _label, rows_of, staff_only = DATASETS[params["dataset"]]
    if staff_only and not job.owner.is_staff:
        raise JobError("only staff may build this report")
    header, (qs, row) = rows_of(job.owner)
    total = len(qs) if isinstance(qs, list) else qs.count()  # the event log's summaries are a list
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    job.report(0, total, f"0 of {total} rows")
    written = 0
    for start in range(0, total, REPORT_CHUNK):
        for item in qs[start : start + REPORT_CHUNK]:
            writer.writerow([_cell(v) for v in row(item)])
            written += 1
        job.report(written, total, f"{written} of {total} rows")
    zone = zone_or_none(params.get("time_zone")) or timezone.get_default_timezone()
    stamp = timezone.now().astimezone(zone).strftime("%Y%m%d-%H%M%S")
    job.attach_file(f"{params['dataset']}-{stamp}.csv", out.getvalue().encode(), "text/csv; charset=utf-8")
    return {"rows": written, "dataset": params["dataset"]}


# -- sum a column of pasted CSV (fails on the first bad value it meets) ------

CSV_MAX_CHARS = 1_000_000
SUM_CHUNK = 200


def _csv_rows(text: str) -> Iterator[list[str]]:
    # One row at a time: a megabyte of CSV as a list of lists of cells would take ten times that.
    return csv.reader(io.StringIO(text))


class ColumnSumForm(ParamsForm):
    csv = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=CSV_MAX_CHARS,
        strip=False,
        initial="item,amount\ntea,2.50\ncake,4.25\n",
        help_text="CSV text with a header row",
    )
    column = forms.CharField(max_length=100, initial="amount", help_text="the header of the column to add up")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        text, column = data.get("csv"), data.get("column")
        if text is None or column is None:
            return data
        try:
            rows = _csv_rows(text)
            header = next(rows, None)
            for _row in rows:  # every row must be CSV
                pass
        except csv.Error as exc:
            raise forms.ValidationError({"csv": f"not CSV: {exc}"}) from None
        if header is None:
            raise forms.ValidationError({"csv": "empty: give a header row and data rows"})
        if column not in header:
            raise forms.ValidationError(
                {"column": f"no column {column!r}; the header has {', '.join(header)}"}
            )
        return data


def _quote(value: str, limit: int = 60) -> str:
    # A cell can be a megabyte long: quote its start, so the reason still reads whole.
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value):,} characters)"


@job_kind("column_sum", title="Sum a CSV column", form=ColumnSumForm)
def sum_column(job: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Adds up one column of CSV text row by row; the first value that is not a number fails the job."""
    rows = _csv_rows(params["csv"])
    index = next(rows).index(params["column"])
    count = sum(1 for _row in _csv_rows(params["csv"])) - 1
    total = Decimal(0)
    job.report(0, count, f"0 of {count} rows")
    for number, row in enumerate(rows, start=1):
        if not row:
            continue
        value = row[index].strip() if index < len(row) else ""
        try:
            amount = Decimal(value)
            if not amount.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            # The message beside the error says how far it got, not "0 of N rows".
            job.report(number - 1, count, f"{number - 1} of {count} rows summed before row {number + 1}")
            raise JobError(
                f"row {number + 1}: {_quote(value)} in column {params['column']!r} is not a number"
            ) from None
        total += amount
        if number % SUM_CHUNK == 0:
            job.report(number, count, f"{number} of {count} rows")
    job.report(count, count, f"{count} of {count} rows")
    return {"rows": count, "column": params["column"], "sum": str(total)}


# -- slow steps: a job slow enough to watch and cancel -------------------------

STEPS_MAX = 120
SLICES_PER_STEP = 10


class StepsForm(ParamsForm):
    steps = forms.IntegerField(
        min_value=1, max_value=STEPS_MAX, initial=30, help_text="how many steps (1 to 120)"
    )
    seconds_per_step = forms.FloatField(
        min_value=0.1, max_value=5, initial=1, help_text="how long each step takes (0.1 to 5 seconds)"
    )


@job_kind("steps", title="Slow steps", form=StepsForm)
def walk_steps(job: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Waits through the given number of steps, reporting each one: a job slow enough to watch and cancel."""
    steps, seconds = params["steps"], params["seconds_per_step"]
    # Progress counts tenths of a step: the bar moves during a slow step, and every
    # report() is a chance to notice a cancel (it raises), so a cancelled job stops
    # within a slice, not at the end of a five-second step.
    total = steps * SLICES_PER_STEP
    pause = seconds / SLICES_PER_STEP
    job.report(0, total, f"step 1 of {steps}")
    for step in range(1, steps + 1):
        for piece in range(1, SLICES_PER_STEP + 1):
            time.sleep(pause)
            job.report((step - 1) * SLICES_PER_STEP + piece, total, f"step {step} of {steps}")
    return {"steps": steps}
