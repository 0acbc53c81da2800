"""The demo's hardening of every DRF view: REST_FRAMEWORK names sse.api.guards' parser and
exception handler (public for a project's own views), in process.

Over a real server: tests/project/test_hardening.py. The sse API's own views name them
themselves (tests/sse/test_api_input.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import InterfaceError, OperationalError
from rest_framework.exceptions import ParseError

from sse.api.guards import MAX_JSON_DEPTH, check_json_value, exception_handler, is_unavailable

ROOT = Path(__file__).resolve().parents[2]


def test_the_project_names_the_guards_parser_and_handler() -> None:
    assert settings.REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"][0] == "sse.api.guards.StrictJSONParser"
    assert settings.REST_FRAMEWORK["EXCEPTION_HANDLER"] == "sse.api.guards.exception_handler"


@pytest.mark.parametrize("first", ["sse.api.guards", "rest_framework.views"])
def test_settings_can_name_the_guards_whichever_module_is_imported_first(first: str) -> None:
    # rest_framework.views reads DEFAULT_PARSER_CLASSES when imported: the guards module must
    # not import it at the top, or importing the guards first is a circular import.
    code = (
        "import django; django.setup()\n"
        f"import {first}\n"
        "from rest_framework.views import APIView\n"
        "parser = APIView.parser_classes[0]\n"
        "print(parser.__module__ + '.' + parser.__name__)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "sse.api.guards.StrictJSONParser"


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
