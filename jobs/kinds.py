"""The registry of job kinds: what each one is called, takes, and does.

``JobError`` is here too, for a kind's code: ``from jobs.kinds import JobError, ParamsForm, job_kind``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django import forms

from jobs.errors import JobError

if TYPE_CHECKING:
    from jobs.progress import JobContext

__all__ = [
    "NOT_UNICODE",
    "JobError",
    "JobKind",
    "ParamsForm",
    "all_kinds",
    "describe",
    "get_kind",
    "is_valid_unicode",
    "job_kind",
]

NOT_UNICODE = "holds text that is not valid Unicode (a lone surrogate such as \\ud800)"


def is_valid_unicode(value: Any) -> bool:
    """False if any string in ``value`` (nested dicts' keys and values, lists) cannot be UTF-8.

    JSON may spell a lone surrogate (``"\\ud800"``); Python decodes it into a str that
    no database, page or JSON answer can encode later, so it must not be stored.
    """
    pending = [value]
    while pending:  # a loop, not recursion: nesting depth is the sender's choice
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
    return True


class ParamsForm(forms.Form):
    """A kind's parameters; ``user`` is who submits (some choices depend on it).

    Every kind's form refuses text that is not valid Unicode, whether it came from
    the JSON API or from the page's form.
    """

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def _clean_fields(self) -> None:
        # Before clean(): a kind's own checks never see (nor quote in a message) bad text.
        bad = [name for name, bound in self._bound_items() if not is_valid_unicode(bound.data)]
        super()._clean_fields()
        for name in bad:
            self.add_error(name, f"this value {NOT_UNICODE}")


Runner = Callable[["JobContext", dict[str, Any]], Any]


@dataclass(frozen=True)
class JobKind:
    name: str
    title: str
    description: str
    form_class: type[ParamsForm]
    run: Runner

    def form(self, data: Any = None, *, user: Any, prefix: str | None = None) -> ParamsForm:
        return self.form_class(data, user=user, prefix=prefix)


_kinds: dict[str, JobKind] = {}


def job_kind(name: str, *, title: str, form: type[ParamsForm]) -> Callable[[Runner], Runner]:
    """Register ``run(job, params) -> result`` as the kind ``name``; the docstring describes it."""

    def decorator(run: Runner) -> Runner:
        description = " ".join((run.__doc__ or "").split())
        _kinds[name] = JobKind(name, title, description, form, run)
        return run

    return decorator


def get_kind(name: object) -> JobKind | None:
    return _kinds.get(name) if isinstance(name, str) else None


def all_kinds() -> list[JobKind]:
    return list(_kinds.values())


def _field_type(field: forms.Field) -> str:
    if isinstance(field, forms.IntegerField):
        return "integer"
    if isinstance(field, forms.ChoiceField):
        return "choice"
    if isinstance(field.widget, forms.Textarea):
        return "text"
    return "string"


def describe(kind: JobKind, user: Any) -> dict[str, Any]:
    """A kind and its parameters as JSON (GET /api/jobs/kinds/)."""
    form = kind.form(user=user)
    params = []
    for name, field in form.fields.items():
        info: dict[str, Any] = {
            "name": name,
            "label": str(form[name].label),
            "type": _field_type(field),
            "required": field.required,
            "help": str(field.help_text),
        }
        if field.initial is not None:
            info["default"] = field.initial
        for attr in ("min_value", "max_value", "max_length"):
            value = getattr(field, attr, None)
            if value is not None:
                info[attr.removesuffix("_value")] = value
        if isinstance(field, forms.ChoiceField):
            info["choices"] = [value for value, _label in field.choices if value != ""]
        params.append(info)
    return {"name": kind.name, "title": kind.title, "description": kind.description, "params": params}
