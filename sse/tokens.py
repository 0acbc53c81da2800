"""Short-lived, channel-scoped stream tokens signed with ``SECRET_KEY``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core import signing

from sse.conf import conf

__all__ = ["InvalidToken", "StreamToken", "issue_token", "verify_token"]

_SALT = "sse.stream-token"


class InvalidToken(Exception):
    """The token is malformed, tampered with or expired."""


@dataclass(frozen=True)
class StreamToken:
    token: str
    user_pk: str
    channels: frozenset[str]
    expires_at: datetime


def issue_token(user_pk: object, channels: list[str] | tuple[str, ...]) -> StreamToken:
    max_age = conf.SSE_TOKEN_MAX_AGE
    expires = int(time.time()) + max_age
    payload = {"u": str(user_pk), "c": sorted(set(channels)), "e": expires}
    value = signing.dumps(payload, salt=_SALT)
    return StreamToken(value, str(user_pk), frozenset(channels), _utc(expires))


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def verify_token(value: str) -> StreamToken:
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise InvalidToken("malformed token")
    try:
        payload = signing.loads(value, salt=_SALT, max_age=conf.SSE_TOKEN_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise InvalidToken("token expired") from exc
    except signing.BadSignature as exc:
        raise InvalidToken("invalid token") from exc
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("u"), str)
        or not isinstance(payload.get("c"), list)
        or not isinstance(payload.get("e"), int)
        or not all(isinstance(c, str) for c in payload["c"])
    ):
        raise InvalidToken("invalid token")
    if payload["e"] < time.time():
        raise InvalidToken("token expired")
    return StreamToken(value, payload["u"], frozenset(payload["c"]), _utc(payload["e"]))
