"""Signals about open streams, for apps that track who is connected (chat presence).

Both are sent on the server's event loop, by :func:`sse.streams.stream.stream_response`,
with these keyword arguments:

- ``channels``: the stream's channel names (a sorted tuple, already authorized);
- ``user_key``: ``str(user.pk)`` of the reader, or None;
- ``stream``: an opaque object, the same in ``stream_opened`` and ``stream_closed``.

``stream_opened`` goes out once the stream is subscribed (after the access checks);
``stream_closed`` exactly once when it ends, however it ends (client gone,
slow consumer, lifetime, shutdown). A process that dies sends no ``stream_closed``:
keep any shared state with an expiry.

Receivers must be plain functions that return at once: they run on the loop that
serves every stream, so hand slow work (database, network) to a task or a thread.
Errors in receivers are logged and never reach the stream (``send_robust``).
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["stream_closed", "stream_opened"]

stream_opened = Signal()
stream_closed = Signal()
