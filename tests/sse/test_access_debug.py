"""The 403 text: under DEBUG it tells a missing rule from a denial; otherwise it does not.

Through Django's test client: the stream view and the token endpoint of
tests.sse_app, for a channel no registered pattern matches (``nothing.here``)
and for one whose rule says no (``staff``, for a user who is not staff).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client, override_settings

from sse.channels import registry
from sse.streams.access import not_allowed_message

pytestmark = pytest.mark.django_db

STREAM = "/sse/stream/"
TOKENS = "/api/sse/tokens/"
HINT = "register one with @sse.channel(...) in a module your AppConfig.ready() imports"


@pytest.fixture
def alice(client: Client, django_user_model: Any) -> Client:
    client.force_login(django_user_model.objects.create_user("alice", password="x"))
    return client


def stream_refusal(client: Client, *channels: str) -> str:
    response = client.get(STREAM, {"channel": list(channels)})
    assert response.status_code == 403, (response.status_code, response.content)
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def token_refusal(client: Client, *channels: str) -> str:
    response = client.post(TOKENS, json.dumps({"channels": list(channels)}), content_type="application/json")
    assert response.status_code == 403, (response.status_code, response.content)
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    return detail


REFUSALS = [pytest.param(stream_refusal, id="stream"), pytest.param(token_refusal, id="token")]


@pytest.mark.parametrize("refusal", REFUSALS)
def test_debug_says_no_pattern_matches(alice: Client, refusal: Any) -> None:
    with override_settings(DEBUG=True):
        text = refusal(alice, "nothing.here")
    unmatched = "not allowed to read channel nothing.here: no registered channel pattern matches it"
    assert text.startswith(unmatched)
    assert HINT in text
    # The registered patterns, sorted, so a typo shows.
    patterns = registry.registered_patterns()
    assert {"public", "staff", "user.{pk}"} <= set(patterns)
    assert f"(registered: {', '.join(patterns)})" in text


@pytest.mark.parametrize("refusal", REFUSALS)
def test_without_debug_a_missing_pattern_reads_like_a_denial(alice: Client, refusal: Any) -> None:
    with override_settings(DEBUG=False):
        text = refusal(alice, "nothing.here")
    assert text.strip() == "not allowed to read channel nothing.here"


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize("refusal", REFUSALS)
def test_a_rules_denial_keeps_its_plain_text(alice: Client, refusal: Any, debug: bool) -> None:
    with override_settings(DEBUG=debug):
        text = refusal(alice, "staff")
    assert text.strip() == "not allowed to read channel staff"


@pytest.mark.parametrize("refusal", REFUSALS)
def test_debug_names_the_unmatched_channel_among_readable_ones(alice: Client, refusal: Any) -> None:
    with override_settings(DEBUG=True):
        text = refusal(alice, "public", "nothing.here")
    assert text.startswith("not allowed to read channel nothing.here: no registered channel pattern")


@pytest.mark.usefixtures("no_rules")
@pytest.mark.parametrize("refusal", REFUSALS)
def test_debug_says_when_no_pattern_is_registered_at_all(alice: Client, refusal: Any) -> None:
    with override_settings(DEBUG=True):
        text = refusal(alice, "public")
    assert text.startswith("not allowed to read channel public: no channel pattern is registered at all")
    assert HINT in text


@pytest.mark.usefixtures("no_rules")
def test_a_long_list_of_patterns_is_cut_short() -> None:
    for index in range(25):
        registry.register_channel(f"p{index:02}", lambda user: True)
    with override_settings(DEBUG=True):
        text = not_allowed_message("nothing.here")
    assert "p00, p01," in text
    assert "p19 and 5 more)" in text
    assert "p20" not in text
