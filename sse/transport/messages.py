"""The channel layer's messages: an event for a channel's group, an access notice for every hub."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = [
    "ACCESS_GROUP",
    "ACCESS_TYPE",
    "MESSAGE_TYPE",
    "OnAccess",
    "OnEvent",
    "access_message",
    "group_name",
    "layer_message",
    "read_access",
    "read_message",
]

logger = logging.getLogger("sse.layer")

MESSAGE_TYPE = "sse.event"
ACCESS_TYPE = "sse.access"
#: The group every hub joins (on a layer that reaches other processes) to hear that some
#: streams' access may have changed (sse.auth.revocation.access_changed). Not ``sse.<channel>``:
#: no channel's group can be named this.
ACCESS_GROUP = "sse-access"

# (channel, seq, event, data, publish time, the event's check, its row in the log)
OnEvent = Callable[[str, int, str | None, str, float | None, int | None, int | None], None]
OnAccess = Callable[[list[str], list[str]], None]


def group_name(channel: str) -> str:
    return f"sse.{channel}"


def layer_message(
    channel: str,
    seq: int,
    event: str | None,
    data: str,
    ts: float,
    check: int | None = None,
    row: int | None = None,
) -> dict[str, Any]:
    # ts: the publish time, for the delivery-lag figures (older senders leave it out);
    # check: the event's check in the log, which ids carry; row: its number in the log
    # across channels, which orders a stream's channels (older senders leave both out).
    message = {"type": MESSAGE_TYPE, "channel": channel, "seq": seq, "event": event, "data": data, "ts": ts}
    if check is not None:
        message["check"] = check
    if row is not None:
        message["row"] = row
    return message


def read_message(
    message: dict[str, Any],
) -> tuple[str, int, str | None, str, float | None, int | None, int | None] | None:
    if message.get("type") != MESSAGE_TYPE:
        return None
    try:
        check, row = message.get("check"), message.get("row")
        return (
            message["channel"],
            int(message["seq"]),
            message.get("event"),
            message["data"],
            message.get("ts"),
            None if check is None else int(check),
            None if row is None else int(row),
        )
    except (KeyError, TypeError, ValueError):
        logger.warning("ignored a malformed %s message", MESSAGE_TYPE)
        return None


def access_message(users: list[str], channels: list[str], origin: str) -> dict[str, Any]:
    """A notice from the process ``origin`` (``ProcessTransport.process_origin()``)."""
    return {"type": ACCESS_TYPE, "users": users, "channels": channels, "origin": origin}


def read_access(message: dict[str, Any], own_origin: str) -> tuple[list[str], list[str]] | None:
    """The users and channels of a notice; None for a malformed one, or one this process sent
    (its hub heard it directly)."""
    if message.get("origin") == own_origin:
        return None
    users, channels = message.get("users"), message.get("channels")
    if not isinstance(users, list) or not isinstance(channels, list):
        logger.warning("ignored a malformed %s message", ACCESS_TYPE)
        return None
    return [str(u) for u in users], [str(c) for c in channels]
