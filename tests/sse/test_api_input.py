"""Malformed JSON bodies to the sse API over a real server: 400 JSON, nothing stored.

tests/sse_app's REST_FRAMEWORK names no parser or exception handler: the sse views
bring their own, so the app is safe in any project.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from django.db import InterfaceError, OperationalError
from rest_framework.exceptions import ParseError

from sse.api.guards import MAX_JSON_DEPTH, check_json_value, exception_handler
from tests.sse.conftest import Site

TOKENS = "/api/sse/tokens/"
PUBLISH = "/api/sse/publish/"
JSON = {"Content-Type": "application/json"}
DEEP = b"[" * 100_000  # what made DRF's JSONParser raise RecursionError: an HTML 500


def assert_json_400(response: httpx.Response) -> str:
    assert response.status_code == 400, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    return detail


@pytest.mark.parametrize("body", [DEEP, DEEP + b"]" * 100_000, b'{"channels": ' + b"[" * 100_000])
def test_a_body_nested_100000_deep_is_400_json(alice: httpx.Client, staff: httpx.Client, body: bytes) -> None:
    assert "deeper" in assert_json_400(alice.post(TOKENS, content=body, headers=JSON))
    assert "deeper" in assert_json_400(staff.post(PUBLISH, content=body, headers=JSON))


def test_a_body_over_the_upload_limit_is_413_and_too_many_fields_400(
    alice: httpx.Client, staff: httpx.Client
) -> None:
    """Django refuses them (DATA_UPLOAD_MAX_MEMORY_SIZE, DATA_UPLOAD_MAX_NUMBER_FIELDS, by
    default 2.5 MiB and 1,000): JSON with what the limit is, not a 500."""
    huge = b'{"channels": ["' + b"a" * (3 * 1024 * 1024) + b'"]}'
    fields = "&".join(f"f{n}=1" for n in range(1100))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for client, url in ((alice, TOKENS), (staff, PUBLISH)):
        answer = client.post(url, content=huge, headers=JSON)
        assert answer.status_code == 413, (answer.status_code, answer.text[:300])
        assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in answer.json()["detail"]
        answer = client.post(url, content=fields, headers=form)
        assert answer.status_code == 400, (answer.status_code, answer.text[:300])
        assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in answer.json()["detail"]


def test_nesting_past_the_limit_is_400_and_up_to_it_publishes(staff: httpx.Client) -> None:
    channel = f"scratch.depth-{uuid.uuid4().hex[:8]}"

    def nested(levels: int) -> object:
        data: object = 1
        for _ in range(levels):
            data = [data]
        return data

    # The request object is one level, "data" the rest.
    too_deep = staff.post(PUBLISH, json={"channel": channel, "data": nested(MAX_JSON_DEPTH)})
    assert "deeper than 64" in assert_json_400(too_deep)
    fits = staff.post(PUBLISH, json={"channel": channel, "data": nested(MAX_JSON_DEPTH - 1)})
    assert fits.status_code == 201, fits.text
    assert fits.json()["id"].split(":")[1].startswith("1_"), "the refused publish took a seq"


@pytest.mark.parametrize(
    "body",
    [
        b'{"channel": "CHANNEL", "data": {"text": "\\ud800"}}',  # a lone high surrogate
        b'{"channel": "CHANNEL", "data": ["ok", "\\udfff"]}',  # a lone low one, in a list
        b'{"channel": "CHANNEL", "data": {"\\ud83d": 1}}',  # in a key
        b'{"channel": "CHANNEL", "event": "e\\udc00", "data": 1}',  # in the event name
    ],
)
def test_a_lone_surrogate_is_400_json_and_nothing_is_stored(staff: httpx.Client, body: bytes) -> None:
    channel = f"scratch.surrogate-{uuid.uuid4().hex[:8]}"
    refused = staff.post(PUBLISH, content=body.replace(b"CHANNEL", channel.encode()), headers=JSON)
    assert "Unicode" in assert_json_400(refused)
    # Nothing went into the log: the channel's next event is its first, seq 1.
    published = staff.post(PUBLISH, json={"channel": channel, "data": {"text": "\U0001f600"}})
    assert published.status_code == 201, published.text
    assert published.json()["id"].split(":")[1].startswith("1_"), published.json()


def test_a_proper_surrogate_pair_is_text_and_publishes(staff: httpx.Client) -> None:
    channel = f"scratch.pair-{uuid.uuid4().hex[:8]}"
    body = b'{"channel": "%s", "data": {"text": "\\ud83d\\ude00"}}' % channel.encode()
    assert staff.post(PUBLISH, content=body, headers=JSON).status_code == 201


def test_a_lone_surrogate_in_a_token_request_is_400(alice: httpx.Client) -> None:
    assert_json_400(alice.post(TOKENS, content=b'{"channels": ["public\\ud800"]}', headers=JSON))


def test_the_parser_checks_keys_values_and_depth_without_recursing() -> None:
    check_json_value({"a": [1, "b", {"c": None}]})
    with pytest.raises(ParseError):
        check_json_value({"\ud800": 1})
    wide = [[1] * 1000 for _ in range(100)]
    check_json_value(wide)
    deep: object = []
    for _ in range(100_000):  # built without json: far past any recursion limit
        deep = [deep]
    with pytest.raises(ParseError, match="deeper"):
        check_json_value(deep)


@pytest.mark.parametrize("error", [OperationalError("connection refused"), InterfaceError("closed")])
def test_the_exception_handler_answers_503_json_when_the_database_is_down(error: Exception) -> None:
    response = exception_handler(error, {})
    assert response.status_code == 503
    assert response["Retry-After"].isdigit()
    assert "retry" in response.data["detail"]


def test_the_exception_handler_answers_500_json_for_anything_else() -> None:
    response = exception_handler(RuntimeError("a bug"), {})
    assert response.status_code == 500
    assert response.data == {"detail": "server error"}


def test_the_sse_views_answer_json_whatever_the_project_says(site: Site) -> None:
    # tests/sse_app sets neither DEFAULT_PARSER_CLASSES nor EXCEPTION_HANDLER.
    from django.conf import settings

    assert "DEFAULT_PARSER_CLASSES" not in settings.REST_FRAMEWORK
    assert "EXCEPTION_HANDLER" not in settings.REST_FRAMEWORK
