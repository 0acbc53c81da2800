"""``sse.W011``: the event log's tables are missing (``manage.py migrate`` was not run).

It needs a database, so it is tagged ``database``: ``manage.py check --database default`` runs
it, ``runserver`` and the servers do not (Django's own ``runserver`` says "You have N unapplied
migration(s)", and every stream then answers ``503`` naming the fix, with an ERROR in the
server's log: ``sse.streams.stream``).
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.checks import CheckMessage, Tags, Warning, register
from django.db import DatabaseError


@register(Tags.database)
def check_event_log_tables(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """Runs with ``manage.py check --database default``; not inside ``migrate`` (Django runs the
    database checks there too, just before it creates the tables)."""
    if not databases or _running_migrate():
        return []
    from sse.storage import get_event_log

    try:
        log = get_event_log()
    except Exception:  # SSE_EVENT_LOG is wrong: its own check (sse.checks.settings) says so
        return []
    using = getattr(log, "using", None)
    if using is not None and using not in databases:
        return []
    try:
        problem = log.setup_problem()
    except DatabaseError:  # a database that cannot be reached: not this check's to report
        return []
    if problem is None:
        return []
    return [
        Warning(
            problem[0].upper() + problem[1:] + ". Every stream answers 503 until then, and publish() fails.",
            hint="sse's migrations create them: a new database, or a project that added 'sse' "
            "to INSTALLED_APPS after its last migrate, needs the command named above.",
            id="sse.W011",
        )
    ]


def _running_migrate() -> bool:
    """Whether this check runs inside ``manage.py migrate`` (before its own work)."""
    from django.core.management.commands.migrate import Command as Migrate

    frame = sys._getframe(1)
    while frame is not None:
        if isinstance(frame.f_locals.get("self"), Migrate):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False
