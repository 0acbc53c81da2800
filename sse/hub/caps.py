"""Stream caps: at most ``SSE_MAX_STREAMS_PER_PROCESS`` open streams, ``SSE_MAX_STREAMS_PER_USER`` each."""

from __future__ import annotations

from collections import Counter

from sse.conf import conf

__all__ = ["Caps", "OverCapacity"]


class OverCapacity(Exception):
    """A stream cap (per user or per process) is reached, or the server is shutting down."""


class Caps:
    """A hub's open streams per user (``per_user``: only users with one), against the caps."""

    __slots__ = ("per_user",)

    def __init__(self) -> None:
        self.per_user: Counter[str] = Counter()

    def admit(self, open_streams: int, user_key: str | None) -> None:
        """Raise OverCapacity if one more stream (of ``user_key``) is past a cap."""
        per_process = conf.SSE_MAX_STREAMS_PER_PROCESS
        if per_process and open_streams >= per_process:
            raise OverCapacity("too many open streams on this server")
        per_user = conf.SSE_MAX_STREAMS_PER_USER
        if per_user and user_key is not None and self.per_user[user_key] >= per_user:
            raise OverCapacity("too many open streams for this user")

    def opened(self, user_key: str | None) -> None:
        if user_key is not None:
            self.per_user[user_key] += 1

    def closed(self, user_key: str | None) -> None:
        if user_key is not None:
            self.per_user[user_key] -= 1
            if self.per_user[user_key] <= 0:
                del self.per_user[user_key]
