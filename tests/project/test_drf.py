"""project/drf.py, the demo's hardening of every DRF view (REST_FRAMEWORK names it), in process.

Over a real server: tests/project/test_hardening.py. The sse API's own views guard
themselves (sse.api.guards, tests/sse/test_api_input.py).
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import InterfaceError, OperationalError
from rest_framework.exceptions import ParseError

from project.drf import MAX_JSON_DEPTH, check_json_value, exception_handler, is_unavailable


def test_the_project_names_its_own_parser_and_handler() -> None:
    assert settings.REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"][0] == "project.drf.StrictJSONParser"
    assert settings.REST_FRAMEWORK["EXCEPTION_HANDLER"] == "project.drf.exception_handler"


def test_the_parser_checks_keys_values_and_depth_without_recursing() -> None:
    check_json_value({"a": [1, "b", {"c": None}]})
    with pytest.raises(ParseError):
        check_json_value({"\ud800": 1})
    check_json_value([[1] * 1000 for _ in range(100)])
    deep: object = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ParseError, match=f"deeper than {MAX_JSON_DEPTH}"):
        check_json_value(deep)


@pytest.mark.parametrize("error", [OperationalError("connection refused"), InterfaceError("closed")])
def test_the_database_down_is_503_json_with_retry_after(error: Exception) -> None:
    assert is_unavailable(error)
    response = exception_handler(error, {})
    assert response.status_code == 503
    assert response["Retry-After"].isdigit()
    assert "retry" in response.data["detail"]


def test_suspicious_requests_are_413_or_400_and_anything_else_500_json() -> None:
    assert exception_handler(RequestDataTooBig("too big"), {}).status_code == 413
    assert exception_handler(TooManyFieldsSent("too many"), {}).status_code == 400
    response = exception_handler(RuntimeError("a bug"), {})
    assert response.status_code == 500
    assert response.data == {"detail": "server error"}
