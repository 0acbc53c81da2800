from __future__ import annotations

import time
from datetime import UTC, datetime
from unittest import mock

import pytest
from django.core import signing
from django.test import override_settings

from sse.auth.tokens import InvalidToken, issue_token, verify_token

SALT = "sse.stream-token"


def test_round_trip() -> None:
    before = int(time.time())
    token = issue_token(42, ["b", "a", "a"])
    assert token.user_pk == "42"
    assert token.channels == frozenset({"a", "b"})
    assert before + 300 <= token.expires_at.timestamp() <= time.time() + 300
    assert token.expires_at.tzinfo is UTC
    checked = verify_token(token.token)
    assert (checked.user_pk, checked.channels, checked.expires_at) == ("42", {"a", "b"}, token.expires_at)


def test_token_is_url_safe() -> None:
    value = issue_token("7", ["user.7", "public"]).token
    assert all(c.isalnum() or c in "-_:." for c in value), value


def tampered_versions(value: str) -> list[str]:
    payload, _, rest = value.partition(":")
    flip = "A" if payload[-1] != "A" else "B"
    return [
        payload[:-1] + flip + ":" + rest,  # payload changed
        value[:-1] + ("A" if value[-1] != "A" else "B"),  # signature changed
        value + "x",
        value[1:],
        value.replace(":", ".", 1),
    ]


@pytest.mark.parametrize("index", range(5))
def test_tampered_token(index: int) -> None:
    value = issue_token(1, ["public"]).token
    with pytest.raises(InvalidToken):
        verify_token(tampered_versions(value)[index])


def test_token_for_another_user_cannot_be_forged_from_the_payload() -> None:
    value = issue_token(1, ["user.1"]).token
    forged = signing.dumps({"u": "2", "c": ["user.2"], "e": int(time.time()) + 60}, salt="other-salt")
    with pytest.raises(InvalidToken, match="invalid"):
        verify_token(forged)
    assert verify_token(value).user_pk == "1"


@override_settings(SECRET_KEY="another-secret-key-entirely-for-this-test")
def test_token_signed_with_another_key() -> None:
    value = signing.dumps({"u": "1", "c": ["public"], "e": int(time.time()) + 60}, salt=SALT, key="k" * 50)
    with pytest.raises(InvalidToken, match="invalid"):
        verify_token(value)


def test_expired_token() -> None:
    with mock.patch("time.time", return_value=time.time() - 301):
        old = issue_token(1, ["public"]).token
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(old)


def test_expiry_follows_the_setting() -> None:
    with override_settings(SSE_TOKEN_MAX_AGE=10):
        with mock.patch("time.time", return_value=time.time() - 11):
            old = issue_token(1, ["public"]).token
        with pytest.raises(InvalidToken, match="expired"):
            verify_token(old)
    # Back under the default 300 s it is still expired: the token carries its own expiry.
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(old)


def test_token_still_valid_just_before_expiry() -> None:
    with override_settings(SSE_TOKEN_MAX_AGE=60):
        with mock.patch("time.time", return_value=time.time() - 30):
            value = issue_token(1, ["public"]).token
        assert verify_token(value).user_pk == "1"


def test_shorter_setting_expires_tokens_already_issued() -> None:
    value = issue_token(1, ["public"]).token
    with mock.patch("time.time", return_value=time.time() + 120), override_settings(SSE_TOKEN_MAX_AGE=60):
        with pytest.raises(InvalidToken, match="expired"):
            verify_token(value)


def test_token_covers_only_its_channels() -> None:
    token = verify_token(issue_token(1, ["public"]).token)
    assert "user.1" not in token.channels
    assert token.channels == frozenset({"public"})


@pytest.mark.parametrize(
    "value",
    [None, 123, "", "x" * 4097, "not-a-token", "a:b:c", "\u00e9:\u00e9", "Bearer abc"],
)
def test_malformed_tokens(value: object) -> None:
    with pytest.raises(InvalidToken):
        verify_token(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "payload",
    [
        "a string",
        ["u", "c"],
        {"u": 1, "c": ["public"], "e": 2**40},
        {"u": "1", "c": "public", "e": 2**40},
        {"u": "1", "c": [1], "e": 2**40},
        {"u": "1", "c": ["public"], "e": "later"},
        {"u": "1", "c": ["public"]},
        # Claims of the right types that no token of this server carries ("soon": 30 s from the test).
        {"u": "not-a-pk", "c": ["public"], "e": "soon"},
        {"u": "1", "c": ["public"], "e": 2**40},
        {"u": "1", "c": ["public"], "e": "soon", "s": "AAAA"},
        {"u": "1", "c": ["public"], "e": "soon", "s": "A" * 60},
    ],
)
def test_signed_but_wrongly_shaped_payload(payload: object) -> None:
    # A payload signed with the right key and salt but not one issue_token() writes.
    if isinstance(payload, dict) and payload.get("e") == "soon" and "u" in payload:
        payload = {**payload, "e": int(time.time()) + 30}
    with pytest.raises(InvalidToken, match="invalid"):
        verify_token(signing.dumps(payload, salt=SALT))


def test_expiry_is_a_datetime_in_utc() -> None:
    token = issue_token(1, ["public"])
    assert isinstance(token.expires_at, datetime)
    assert token.expires_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
