"""The exceptions of the jobs app: what a job's code raises, what stops it, what refuses a submission."""

from __future__ import annotations

from typing import Any

__all__ = ["JobError", "JobInterrupted", "JobStopped", "SubmissionError"]


class JobError(Exception):
    """Raised by a job's code to fail it with a message its owner can read."""


class JobStopped(Exception):
    """The job was cancelled (or failed by the sweeper) while its code ran."""


class JobInterrupted(Exception):
    """The process running the job is shutting down."""


class SubmissionError(Exception):
    """Bad kind or params: ``errors`` maps field names to messages (the 400 body)."""

    def __init__(self, errors: dict[str, Any], status: int = 400) -> None:
        super().__init__(str(errors))
        self.errors = errors
        self.status = status
