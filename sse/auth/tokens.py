"""Short-lived, channel-scoped stream tokens signed with ``SECRET_KEY``.

A token minted for a user object (not a bare pk) is bound to that user's password:
it carries a digest of the user's session auth hash, and stops working when the
password changes. Minted with ``session_key``, it is bound to that session too and
stops working when the session signs out: the key travels sealed (AES-256-GCM from
``cryptography``, under a key derived from ``SECRET_KEY``), so a token seen in a log
does not give the session away. ``sse.streams.access`` checks both when
a stream opens, and the hub while it is open.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ValidationError
from django.utils.crypto import salted_hmac

from sse.conf import conf

__all__ = ["InvalidToken", "StreamToken", "TokenExpired", "auth_digest", "issue_token", "verify_token"]

_SALT = "sse.stream-token"
_NONCE_BYTES = 12


class InvalidToken(Exception):
    """The token is malformed, tampered with or expired."""


class TokenExpired(InvalidToken):
    """A token this server signed, past its expiry."""


@dataclass(frozen=True)
class StreamToken:
    token: str
    user_pk: str
    channels: frozenset[str]
    expires_at: datetime
    #: The session the token was minted from (None: not bound to a session).
    session_key: str | None = None
    #: :func:`auth_digest` of its user when minted (None: not bound to the password).
    auth_digest: str | None = None


def auth_digest(user: Any) -> str | None:
    """A digest of the user's session auth hash (it changes with the password), or None."""
    get_hash = getattr(user, "get_session_auth_hash", None)
    if get_hash is None:
        return None
    return salted_hmac("sse.stream-auth", get_hash(), algorithm="sha256").hexdigest()[:32]


def issue_token(
    user: object, channels: list[str] | tuple[str, ...], *, session_key: str | None = None
) -> StreamToken:
    """A token for ``user`` (a user object, or a bare pk: then bound to no password)
    on ``channels``; with ``session_key``, bound to that session as well."""
    user_pk = getattr(user, "pk", user)
    digest = auth_digest(user)
    max_age = conf.SSE_TOKEN_MAX_AGE
    expires = int(time.time()) + max_age
    payload: dict[str, Any] = {"u": str(user_pk), "c": sorted(set(channels)), "e": expires}
    if digest is not None:
        payload["h"] = digest
    if session_key:
        payload["s"] = _seal(session_key)
    value = signing.dumps(payload, salt=_SALT)
    return StreamToken(value, str(user_pk), frozenset(channels), _utc(expires), session_key or None, digest)


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _cipher() -> AESGCM:
    # AES-256-GCM (authenticated encryption) under a key derived from SECRET_KEY.
    return AESGCM(salted_hmac(_SALT, "session key cipher", algorithm="sha256").digest())


def _seal(session_key: str) -> str:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = _cipher().encrypt(nonce, session_key.encode(), _SALT.encode())
    return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def _unseal(value: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        if len(raw) <= _NONCE_BYTES:
            raise ValueError("too short")
        return _cipher().decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _SALT.encode()).decode()
    except (InvalidTag, ValueError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise InvalidToken("invalid token") from None


def _user_pk(value: str) -> str:
    """The token's user id, if it is one the user model's primary key can take."""
    field = get_user_model()._meta.pk
    assert field is not None
    try:
        return str(field.to_python(value))
    except (ValidationError, ValueError, TypeError):
        raise InvalidToken("invalid token") from None


def verify_token(value: str) -> StreamToken:
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise InvalidToken("malformed token")
    try:
        payload = signing.loads(value, salt=_SALT, max_age=conf.SSE_TOKEN_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise TokenExpired("token expired") from exc
    except signing.BadSignature as exc:
        raise InvalidToken("invalid token") from exc
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("u"), str)
        or not isinstance(payload.get("c"), list)
        or not isinstance(payload.get("e"), int)
        or not all(isinstance(c, str) for c in payload["c"])
        or not isinstance(payload.get("h", ""), str)
        or not isinstance(payload.get("s", ""), str)
    ):
        raise InvalidToken("invalid token")
    now = time.time()
    if payload["e"] < now:
        raise TokenExpired("token expired")
    if payload["e"] > now + conf.SSE_TOKEN_MAX_AGE + 60:  # no token this server signs lives longer
        raise InvalidToken("invalid token")
    session_key = _unseal(payload["s"]) if payload.get("s") else None
    return StreamToken(
        value,
        _user_pk(payload["u"]),
        frozenset(payload["c"]),
        _utc(payload["e"]),
        session_key,
        payload.get("h") or None,
    )
