"""Posting a message: the rules shared by the JSON API and the plain form post."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

import sse
from chat.conf import conf
from chat.models import Message, Room

__all__ = ["InvalidMessage", "RateLimited", "clean_body", "post_message", "rate_limit_wait"]


class InvalidMessage(ValueError):
    """The body is not a message we accept; ``str(exc)`` says why, for people."""


class RateLimited(Exception):
    def __init__(self, wait: int) -> None:
        super().__init__(f"Too many messages: wait {wait} s before sending another.")
        self.wait = wait


def clean_body(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidMessage("Write the message as text.")
    body = value.strip()
    if not body:
        raise InvalidMessage("Write a message first: it is empty.")
    limit = conf.MAX_MESSAGE_LENGTH
    if len(body) > limit:
        raise InvalidMessage(f"A message is at most {limit} characters; this one has {len(body)}.")
    if "\x00" in body:
        raise InvalidMessage("A message cannot contain NUL characters.")
    try:
        body.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidMessage("A message must be valid Unicode text.") from None
    return body


def rate_limit_wait(author: Any) -> int:
    """Seconds until ``author`` may post again (0: now). Counts stored messages, so
    every server process sees the same figure."""
    limit, window = conf.RATE_LIMIT_MESSAGES, conf.RATE_LIMIT_WINDOW_SECONDS
    if limit <= 0 or window <= 0:
        return 0
    now = timezone.now()
    recent = list(
        Message.objects.filter(author=author, created__gt=now - timedelta(seconds=window))
        .order_by("-created")
        .values_list("created", flat=True)[:limit]
    )
    if len(recent) < limit:
        return 0
    free_at = recent[-1] + timedelta(seconds=window)
    return max(1, math.ceil((free_at - now).total_seconds()))


def post_message(room: Room, author: Any, body: Any) -> Message:
    """Store a message and push ``message`` to the room when the transaction commits.

    Raises :class:`InvalidMessage` or :class:`RateLimited`.
    """
    text = clean_body(body)
    with transaction.atomic():
        # One post per user at a time, so two quick posts cannot both squeeze under the
        # limit (a row lock where the database has them; SQLite serialises writers anyway).
        User = get_user_model()
        list(User._default_manager.select_for_update().filter(pk=author.pk).values_list("pk"))
        wait = rate_limit_wait(author)
        if wait:
            raise RateLimited(wait)
        message = Message.objects.create(room=room, author=author, body=text)
        sse.publish(room.channel, message.as_event(), event="message")
    return message
