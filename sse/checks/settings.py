"""One check for every ``SSE_*`` setting, from ``sse.conf``'s table: each with its own id."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register

from sse.conf import Settings


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """An error for each thing wrong with a setting that is set: its type, range or contents."""
    return [
        Error(problem, hint=row.hint(), id=row.check_id)
        for row in Settings.table()
        for problem in row.problems()
    ]
