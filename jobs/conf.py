"""Settings of the jobs app, read live so ``override_settings`` works."""

from __future__ import annotations

from django.conf import settings


class Settings:
    # Seconds between two stored (and published) progress reports of one job; the final state
    # always goes out. What streams get of them is bounded by STREAM_MAX_RATE.
    @property
    def PROGRESS_INTERVAL(self) -> float:
        return float(getattr(settings, "JOBS_PROGRESS_INTERVAL", 0.1))

    # Progress events per second a job stream (or the jobs list's stream) gets at most: the
    # jobs channels are throttled channels (read when the channels are registered, at start).
    @property
    def STREAM_MAX_RATE(self) -> float:
        return float(getattr(settings, "JOBS_STREAM_MAX_RATE", 4.0))

    # A running job whose worker gave no sign of life for this long is marked failed.
    @property
    def STALE_SECONDS(self) -> float:
        return float(getattr(settings, "JOBS_STALE_SECONDS", 30.0))

    # How often a running job's worker says it is alive: well inside STALE_SECONDS.
    @property
    def HEARTBEAT_SECONDS(self) -> float:
        return max(0.2, min(10.0, self.STALE_SECONDS / 4))

    # How often a server process looks for stale jobs.
    @property
    def SWEEP_SECONDS(self) -> float:
        return max(0.2, min(10.0, self.STALE_SECONDS / 4))

    # Threads of the embedded backend (jobs run inside the server process).
    @property
    def EMBEDDED_WORKERS(self) -> int:
        return int(getattr(settings, "JOBS_EMBEDDED_WORKERS", 2))

    # Jobs of one user that may run at the same time (0: no cap). Workers are never
    # preempted: a user allowed as many running jobs as there are workers could hold them
    # all with long jobs while everyone else's wait (the jobs runner picks fairly among the
    # users below this cap). Raise it when there are many more workers than users.
    @property
    def MAX_RUNNING_PER_USER(self) -> int:
        return max(0, int(getattr(settings, "JOBS_MAX_RUNNING_PER_USER", 1)))

    # Unfinished jobs one user may have at once.
    @property
    def MAX_ACTIVE_PER_USER(self) -> int:
        return int(getattr(settings, "JOBS_MAX_ACTIVE_PER_USER", 20))

    # A job that succeeded or failed this many seconds or more after it was submitted tells
    # its owner with a notification (jobs.notices); None: never.
    @property
    def NOTIFY_AFTER_SECONDS(self) -> float | None:
        value = getattr(settings, "JOBS_NOTIFY_AFTER_SECONDS", 5.0)
        return None if value is None else float(value)

    # Largest file a job may attach (bytes).
    @property
    def MAX_FILE_BYTES(self) -> int:
        return int(getattr(settings, "JOBS_MAX_FILE_BYTES", 20 * 1024 * 1024))


conf = Settings()
