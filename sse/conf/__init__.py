"""Every setting of the ``sse`` app, in one table: default, kind, check id, meaning.

Each attribute of :class:`Settings` is named exactly as its setting (``conf.SSE_RETRY_MS``
reads ``settings.SSE_RETRY_MS``), so a search for a setting's name finds every place that
reads it. As in Django REST framework's ``api_settings``, a value is read once, on first use,
and kept on the ``conf`` object itself (an instance attribute: later reads are a plain
attribute lookup, cheap enough for hot paths); Django's ``setting_changed`` signal
(``override_settings``, pytest-django's ``settings``) drops the value kept for that setting.
``conf`` is a constant: its only state is that cache, which the signal resets.

Each setting has its own system check id (``sse.E101`` on, in table order): ``sse.checks``
reports every value of the wrong type or range before a server starts. A wrong value that
reaches a read anyway (a server that runs no checks) raises ``ImproperlyConfigured`` naming the
setting and its check, as Django does for a setting it cannot use: it is never coerced, and
never replaced by the default behind the developer's back (a cap or a timeout other than the
one written in settings.py, noticed only in a log, if at all).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from sse.conf.kinds import (
    ABOVE_0,
    AT_LEAST_0,
    FRACTION,
    SHARE,
    AuthenticationClasses,
    EventLogConfig,
    Integer,
    Kind,
    Number,
    Patterns,
    Text,
)

__all__ = ["DEFAULT_STREAM_PATHS", "Setting", "Settings", "conf"]

#: Regular expressions searched in the request path; a match means "a stream".
DEFAULT_STREAM_PATHS: tuple[str, ...] = (r"/stream/$",)

_UNSET: Any = object()


class Setting[T]:
    """One row of the table: a descriptor that reads, checks and caches its setting."""

    def __init__(self, default: T, kind: Kind[T], check_id: str, about: str) -> None:
        self.default, self.kind, self.check_id, self.about = default, kind, check_id, about
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> Setting[T]: ...
    @overload
    def __get__(self, instance: Settings, owner: type) -> T: ...
    def __get__(self, instance: Settings | None, owner: type) -> Setting[T] | T:
        if instance is None:
            return self
        # Only on a miss: once stored, the instance attribute shadows this descriptor.
        version = instance._version
        value = self.read()
        if instance._version == version:  # not reset while this read ran (another thread)
            instance.__dict__[self.name] = value
        return value

    def configured(self) -> object:
        """The project's value as written, or ``_UNSET``."""
        return getattr(settings, self.name, _UNSET)

    def problems(self) -> list[str]:
        """What is wrong with the project's value (nothing when unset)."""
        value = self.configured()
        return [] if value is _UNSET else self.kind.problems(self.name, value)

    def read(self) -> T:
        """The value readers get: the default when unset; ``ImproperlyConfigured`` when wrong."""
        value = self.configured()
        if value is _UNSET:
            return self.default
        problems = self.kind.problems(self.name, value)
        if problems:
            raise ImproperlyConfigured(f"{' '.join(problems)} ({self.check_id}) {self.hint()}")
        return self.kind.convert(value)

    def hint(self) -> str:
        return (
            f"{self.name}: {self.about} Give it {self.kind.expected}, or delete it to get its "
            f"default ({self.default!r}).{self.kind.advice(self.name)}"
        )


class Settings:
    """The table. Ids follow the rows: a new setting takes the next free id at the end."""

    SSE_HEARTBEAT_SECONDS = Setting(
        15.0, Number(ABOVE_0), "sse.E101", "Seconds of silence after which a stream gets a comment line."
    )
    SSE_RETRY_MS = Setting(
        2000, Integer(AT_LEAST_0), "sse.E102", "Milliseconds a browser waits before reconnecting (retry:)."
    )
    SSE_STREAM_PATHS: Setting[Sequence[str]] = Setting(
        DEFAULT_STREAM_PATHS,
        Patterns(),
        "sse.E103",
        "Paths sse.asgi's handler serves as streams (regular expressions searched in the path).",
    )
    SSE_MAX_LIFETIME_SECONDS = Setting(
        0.0, Number(AT_LEAST_0), "sse.E104", "Seconds a stream may stay open (0: forever)."
    )
    SSE_MAX_LIFETIME_JITTER = Setting(
        0.1, Number(FRACTION), "sse.E105", "Share of the lifetime shaved off at random, so reconnects spread."
    )
    SSE_MAX_STREAMS_PER_USER = Setting(
        0, Integer(AT_LEAST_0), "sse.E106", "Open streams of one user in a process (0: no cap)."
    )
    SSE_MAX_STREAMS_PER_PROCESS = Setting(
        0, Integer(AT_LEAST_0), "sse.E107", "Open streams in a process (0: no cap)."
    )
    SSE_OVER_CAPACITY_RETRY_MS = Setting(
        10000, Integer(AT_LEAST_0), "sse.E108", "The retry: (ms) told to a client turned away by a cap."
    )
    SSE_QUEUE_MAX_FRAMES = Setting(
        10000, Integer(ABOVE_0), "sse.E109", "Frames a stream may have queued before it is closed to resume."
    )
    SSE_QUEUE_MAX_BYTES = Setting(
        4 * 1024 * 1024,
        Integer(ABOVE_0),
        "sse.E110",
        "Bytes a stream may have queued before it is closed to resume.",
    )
    SSE_REPLAYS_PER_USER = Setting(
        2, Integer(AT_LEAST_0), "sse.E111", "Long replays of one user running at once (0: no cap)."
    )
    SSE_REPLAYS_PER_PROCESS = Setting(
        8, Integer(AT_LEAST_0), "sse.E112", "Long replays running at once in a process (0: no cap)."
    )
    SSE_REPLAY_SHARE = Setting(
        1.0, Number(SHARE), "sse.E113", "The share of a process's time long replays may take together."
    )
    SSE_SEND_TIMEOUT_SECONDS = Setting(
        30.0, Number(ABOVE_0), "sse.E114", "Seconds a client may leave a stream's buffer full before the cut."
    )
    SSE_SHUTDOWN_GRACE_SECONDS = Setting(
        5.0, Number(AT_LEAST_0), "sse.E115", "Seconds SIGTERM/SIGINT give ended streams to go."
    )
    SSE_SHUTDOWN_RETRY_SPREAD_MS = Setting(
        3000, Integer(AT_LEAST_0), "sse.E116", "Random ms added to retry: at shutdown, so reconnects spread."
    )
    SSE_LISTEN_BACKLOG = Setting(
        2048, Integer(ABOVE_0), "sse.E117", "The listen backlog of python -m sse.daphne."
    )
    SSE_GC_THRESHOLD = Setting(
        50000,
        Integer(AT_LEAST_0),
        "sse.E118",
        "The gc's generation-0 threshold once streams open (0: Python's own).",
    )
    SSE_REQUEST_THREADS = Setting(
        0,
        Integer(AT_LEAST_0),
        "sse.E119",
        "Long-lived threads for ordinary requests' sync code (0: one per request).",
    )
    SSE_TOKEN_MAX_AGE = Setting(300, Integer(ABOVE_0), "sse.E120", "Lifetime of a stream token, in seconds.")
    SSE_AUTHENTICATION_CLASSES = Setting(
        None,
        AuthenticationClasses(),
        "sse.E121",
        "DRF authentication classes that open a stream from an Authorization header ([]: none).",
    )
    SSE_LOG_MAX_AGE_SECONDS = Setting(
        24 * 3600, Integer(AT_LEAST_0), "sse.E122", "Seconds the event log keeps events (0: no limit)."
    )
    SSE_LOG_MAX_EVENTS_PER_CHANNEL = Setting(
        10000, Integer(AT_LEAST_0), "sse.E123", "Events the log keeps per channel (0: no limit)."
    )
    SSE_LOG_TRIM_INTERVAL_SECONDS = Setting(
        300.0, Number(ABOVE_0), "sse.E124", "Seconds between trims of the log by each server process."
    )
    SSE_LOG_POLL_SECONDS = Setting(
        0.5, Number(ABOVE_0), "sse.E125", "Seconds between looks in the log for events the layer missed."
    )
    SSE_GROUP_REFRESH_SECONDS = Setting(
        3600.0, Number(ABOVE_0), "sse.E126", "Seconds between re-adds of channel-layer group memberships."
    )
    SSE_MAX_EVENT_BYTES = Setting(
        256 * 1024, Integer(ABOVE_0), "sse.E127", "The largest JSON payload publish() accepts, in bytes."
    )
    SSE_CHANNEL_LAYER = Setting(
        "default",
        Text("a str (a CHANNEL_LAYERS alias)"),
        "sse.E128",
        "The CHANNEL_LAYERS alias the hub subscribes through.",
    )
    SSE_EVENT_LOG: Setting[dict[str, Any]] = Setting(
        {}, EventLogConfig(), "sse.E129", "The event log backend, configured like CACHES."
    )
    SSE_ACCESS_RECHECK_SECONDS = Setting(
        30.0, Number(ABOVE_0), "sse.E130", "Seconds between re-runs of open streams' channel rules."
    )
    SSE_BODY_TIMEOUT_SECONDS = Setting(
        30.0,
        Number(AT_LEAST_0),
        "sse.E131",
        "Seconds a request body may take to arrive before a 408 (0: no limit); large bodies earn more.",
    )
    SSE_BODY_MIN_BYTES_PER_SECOND = Setting(
        500,
        Integer(AT_LEAST_0),
        "sse.E132",
        "Each this many bytes of a request body received add a second to its time (0: none).",
    )

    def __init__(self) -> None:
        self._version = 0

    @classmethod
    def table(cls) -> Iterator[Setting[Any]]:
        """Every setting, in table order."""
        for value in vars(cls).values():
            if isinstance(value, Setting):
                yield value

    def validate(self) -> None:
        """Raise ``ImproperlyConfigured`` naming every ``SSE_*`` setting whose value is wrong.

        ``sse.asgi.get_asgi_application()`` calls it, so a server that runs no system checks
        (uvicorn, gunicorn, granian, hypercorn) refuses to start on a wrong value instead of
        failing later, inside a stream or the hub's timer.
        """
        wrong = [f"{' '.join(row.problems())} ({row.check_id})" for row in self.table() if row.problems()]
        if wrong:
            raise ImproperlyConfigured("sse's settings are wrong: " + " ".join(wrong))

    def reload(self, setting: str | None = None) -> None:
        """Forget the value kept for ``setting`` (for every setting: None); read again on use."""
        self._version += 1
        for name in [setting] if setting else [row.name for row in self.table()]:
            self.__dict__.pop(name, None)


conf = Settings()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("SSE_"):
        conf.reload(setting)


# Connected at import, as DRF connects its api_settings': whoever reads conf imported this.
setting_changed.connect(_on_setting_changed, dispatch_uid="sse.conf")
