"""Every setting of the ``sse`` app, read live so ``override_settings`` works.

Each property is named exactly as its setting (``conf.SSE_RETRY_MS`` reads
``settings.SSE_RETRY_MS``), with its default beside it, so a search for a
setting's name finds every place that reads it. The properties coerce
(``int()``, ``float()``); ``sse.checks`` reports a setting of the wrong type or
range at start-up (``sse.E010``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings

#: Regular expressions searched in the request path; a match means "a stream".
DEFAULT_STREAM_PATHS: tuple[str, ...] = (r"/stream/$",)


class Settings:
    # Milliseconds a browser waits before reconnecting (sent as ``retry:``).
    @property
    def SSE_RETRY_MS(self) -> int:
        return int(getattr(settings, "SSE_RETRY_MS", 2000))

    # Seconds of silence after which a stream gets a comment line.
    @property
    def SSE_HEARTBEAT_SECONDS(self) -> float:
        return float(getattr(settings, "SSE_HEARTBEAT_SECONDS", 15.0))

    # Seconds a stream may stay open (0 = forever); each stream gets up to
    # SSE_MAX_LIFETIME_JITTER of it shaved off so reconnects spread out.
    @property
    def SSE_MAX_LIFETIME_SECONDS(self) -> float:
        return float(getattr(settings, "SSE_MAX_LIFETIME_SECONDS", 0.0))

    @property
    def SSE_MAX_LIFETIME_JITTER(self) -> float:
        return float(getattr(settings, "SSE_MAX_LIFETIME_JITTER", 0.1))

    # Open-stream caps; 0 means no cap.
    @property
    def SSE_MAX_STREAMS_PER_USER(self) -> int:
        return int(getattr(settings, "SSE_MAX_STREAMS_PER_USER", 0))

    @property
    def SSE_MAX_STREAMS_PER_PROCESS(self) -> int:
        return int(getattr(settings, "SSE_MAX_STREAMS_PER_PROCESS", 0))

    # ``retry:`` (ms) told to a client turned away by a cap.
    @property
    def SSE_OVER_CAPACITY_RETRY_MS(self) -> int:
        return int(getattr(settings, "SSE_OVER_CAPACITY_RETRY_MS", 10000))

    # On shutdown each stream is told to come back after SSE_RETRY_MS plus a random
    # share of this (ms), so its clients' reconnects spread out instead of arriving
    # together at the restarted process.
    @property
    def SSE_SHUTDOWN_RETRY_SPREAD_MS(self) -> int:
        return int(getattr(settings, "SSE_SHUTDOWN_RETRY_SPREAD_MS", 3000))

    # The listening socket's backlog under ``python -m sse.daphne`` (the kernel caps it
    # at net.core.somaxconn): connections a reconnect storm has waiting to be accepted.
    @property
    def SSE_LISTEN_BACKLOG(self) -> int:
        return int(getattr(settings, "SSE_LISTEN_BACKLOG", 2048))

    # Set when a process's first hub starts (any server): the garbage collector's
    # generation-0 threshold (with 20 and 100 for the older generations), and start-up
    # objects frozen out of its scans. Thousands of open streams are millions of objects,
    # and Python's default (2000) makes full collections walk them all, often (0: Python's own).
    @property
    def SSE_GC_THRESHOLD(self) -> int:
        return int(getattr(settings, "SSE_GC_THRESHOLD", 50000))

    # Per-stream queue bounds; a stream past either is closed and resumes.
    @property
    def SSE_QUEUE_MAX_FRAMES(self) -> int:
        return int(getattr(settings, "SSE_QUEUE_MAX_FRAMES", 10000))

    @property
    def SSE_QUEUE_MAX_BYTES(self) -> int:
        return int(getattr(settings, "SSE_QUEUE_MAX_BYTES", 4 * 1024 * 1024))

    # Replays longer than their first page (a client resuming from far behind) running at
    # once: of one user, and in this process. The others wait their turn, subscribed, with
    # heartbeats (0: no cap). Each running replay holds a page of about 128 KB of events.
    @property
    def SSE_REPLAYS_PER_USER(self) -> int:
        return int(getattr(settings, "SSE_REPLAYS_PER_USER", 2))

    @property
    def SSE_REPLAYS_PER_PROCESS(self) -> int:
        return int(getattr(settings, "SSE_REPLAYS_PER_PROCESS", 8))

    # Those replays read and encode their pages one at a time; below 1, each page is followed
    # by a rest so that together they take at most this share of the process's time.
    @property
    def SSE_REPLAY_SHARE(self) -> float:
        return float(getattr(settings, "SSE_REPLAY_SHARE", 1.0))

    # Seconds a client may leave a stream's socket buffer full before it is cut
    # off (sse.server.asgi, under any server whose send() waits on a full buffer; plain Daphne's
    # does not); it then resumes from its last id.
    @property
    def SSE_SEND_TIMEOUT_SECONDS(self) -> float:
        return float(getattr(settings, "SSE_SEND_TIMEOUT_SECONDS", 30.0))

    # On SIGTERM/SIGINT, seconds to let ended streams and other responses finish.
    @property
    def SSE_SHUTDOWN_GRACE_SECONDS(self) -> float:
        return float(getattr(settings, "SSE_SHUTDOWN_GRACE_SECONDS", 5.0))

    # Lifetime of a stream token, in seconds.
    @property
    def SSE_TOKEN_MAX_AGE(self) -> int:
        return int(getattr(settings, "SSE_TOKEN_MAX_AGE", 300))

    # The Django REST framework authentication classes (dotted paths or classes) that open a
    # stream with the credentials of the site's own API, for a request that brings an
    # Authorization header other than a stream token: a simplejwt access token as Bearer,
    # DRF's "Token <key>". None (unset): REST_FRAMEWORK's DEFAULT_AUTHENTICATION_CLASSES
    # when DRF is installed; [] turns it off. Session cookies and stream tokens need none.
    @property
    def SSE_AUTHENTICATION_CLASSES(self) -> Sequence[str | type] | None:
        classes: Sequence[str | type] | None = getattr(settings, "SSE_AUTHENTICATION_CLASSES", None)
        return classes

    # Seconds between re-runs of open streams' channel rules (a user who lost access
    # to a channel loses its stream); sessions, passwords and is_active are re-checked
    # every min(this, 5) seconds.
    @property
    def SSE_ACCESS_RECHECK_SECONDS(self) -> float:
        return float(getattr(settings, "SSE_ACCESS_RECHECK_SECONDS", 30.0))

    # Channel layer alias the hub subscribes through.
    @property
    def SSE_CHANNEL_LAYER(self) -> str:
        return str(getattr(settings, "SSE_CHANNEL_LAYER", "default"))

    # How often the hub looks in the event log for events it did not get
    # through the channel layer (other processes, dropped messages).
    @property
    def SSE_LOG_POLL_SECONDS(self) -> float:
        return float(getattr(settings, "SSE_LOG_POLL_SECONDS", 0.5))

    # Re-add group memberships this long before the layer's group_expiry.
    @property
    def SSE_GROUP_REFRESH_SECONDS(self) -> float:
        return float(getattr(settings, "SSE_GROUP_REFRESH_SECONDS", 3600.0))

    # Event log retention; 0 disables that rule.
    @property
    def SSE_LOG_MAX_AGE_SECONDS(self) -> int:
        return int(getattr(settings, "SSE_LOG_MAX_AGE_SECONDS", 24 * 3600))

    @property
    def SSE_LOG_MAX_EVENTS_PER_CHANNEL(self) -> int:
        return int(getattr(settings, "SSE_LOG_MAX_EVENTS_PER_CHANNEL", 10000))

    @property
    def SSE_LOG_TRIM_INTERVAL_SECONDS(self) -> float:
        return float(getattr(settings, "SSE_LOG_TRIM_INTERVAL_SECONDS", 300.0))

    # Largest JSON payload accepted by publish(), in bytes.
    @property
    def SSE_MAX_EVENT_BYTES(self) -> int:
        return int(getattr(settings, "SSE_MAX_EVENT_BYTES", 256 * 1024))

    # Paths ``sse.server.asgi.StreamingASGIHandler`` serves as streams (regular expressions).
    @property
    def SSE_STREAM_PATHS(self) -> tuple[str, ...] | list[str]:
        paths: tuple[str, ...] | list[str] = getattr(settings, "SSE_STREAM_PATHS", DEFAULT_STREAM_PATHS)
        return paths

    # Long-lived threads ``sse.server.asgi.StreamingASGIHandler`` runs ordinary requests'
    # sync code on (0: a new thread per request, as Django's own handler does).
    @property
    def SSE_REQUEST_THREADS(self) -> int:
        return int(getattr(settings, "SSE_REQUEST_THREADS", 0))

    # The event log, configured like CACHES: {"BACKEND": "...", "OPTIONS": {...}}
    # (unset, empty, or without a BACKEND: sse.storage.db.DatabaseEventLog).
    @property
    def SSE_EVENT_LOG(self) -> dict[str, Any]:
        config: dict[str, Any] = getattr(settings, "SSE_EVENT_LOG", {}) or {}
        return config


conf = Settings()
