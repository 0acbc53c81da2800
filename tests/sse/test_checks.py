"""Each system check fires for its mistake, and `manage.py check` runs them."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from sse.checks import check_setup

REDIS_LAYER = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {}}}


@pytest.fixture(autouse=True)
def no_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)


def ids() -> list[str]:
    return [message.id for message in check_setup()]


def apps_without(*names: str) -> list[str]:
    return [app for app in settings.INSTALLED_APPS if app not in names]


def test_the_test_project_is_clean() -> None:
    assert check_setup() == []


@override_settings(CHANNEL_LAYERS={})
def test_e001_no_channel_layer() -> None:
    [message] = check_setup()
    assert (message.id, type(message)) == ("sse.E001", Error)
    assert "CHANNEL_LAYERS" in message.msg


@override_settings(SSE_CHANNEL_LAYER="events")
def test_e001_names_the_configured_alias() -> None:
    [message] = check_setup()
    assert message.id == "sse.E001"
    assert "'events'" in message.msg


def test_w002_daphne_missing() -> None:
    with override_settings(INSTALLED_APPS=apps_without("daphne")):
        [message] = check_setup()
    assert (message.id, type(message)) == ("sse.W002", Warning)


def test_e003_daphne_after_staticfiles() -> None:
    apps = [*apps_without("daphne"), "django.contrib.staticfiles", "daphne"]
    with override_settings(INSTALLED_APPS=apps, STATIC_URL="static/"):
        [message] = check_setup()
    assert (message.id, type(message)) == ("sse.E003", Error)


def test_daphne_before_staticfiles_is_fine() -> None:
    apps = ["daphne", "django.contrib.staticfiles", *apps_without("daphne")]
    with override_settings(INSTALLED_APPS=apps, STATIC_URL="static/"):
        assert check_setup() == []


def test_w004_gzip_middleware() -> None:
    with override_settings(MIDDLEWARE=["django.middleware.gzip.GZipMiddleware", *settings.MIDDLEWARE]):
        [message] = check_setup()
    assert (message.id, type(message)) == ("sse.W004", Warning)


def test_w005_in_memory_layer_while_redis_url_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    [message] = check_setup()
    assert (message.id, type(message)) == ("sse.W005", Warning)


def test_w005_not_raised_with_a_redis_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    with override_settings(CHANNEL_LAYERS=REDIS_LAYER):
        assert check_setup() == []


def test_every_mistake_at_once() -> None:
    apps = [*apps_without("daphne")]
    with override_settings(
        CHANNEL_LAYERS={}, INSTALLED_APPS=apps, MIDDLEWARE=["django.middleware.gzip.GZipMiddleware"]
    ):
        assert ids() == ["sse.E001", "sse.W002", "sse.W004"]


def test_checks_are_bound_to_manage_py_check() -> None:
    call_command("check")  # clean: no exception
    with override_settings(CHANNEL_LAYERS={}), pytest.raises(SystemCheckError, match=r"sse\.E001"):
        call_command("check")


def test_warnings_show_in_manage_py_check(capsys: pytest.CaptureFixture[str]) -> None:
    with override_settings(MIDDLEWARE=["django.middleware.gzip.GZipMiddleware", *settings.MIDDLEWARE]):
        call_command("check")
    assert "sse.W004" in capsys.readouterr().err
