"""Each system check fires for its mistake, and `manage.py check` runs them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from sse.channels import registry
from sse.checks import check_settings, check_setup, project_asgi_module
from sse.conf import Settings, conf

REDIS_LAYER = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {}}}


@pytest.fixture(autouse=True)
def no_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)


@pytest.fixture
def no_asgi_application() -> Iterator[None]:
    with override_settings():
        del settings.ASGI_APPLICATION
        yield


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
    # What a WSGI runserver really does with a stream (test_checks_wsgi.py shows it).
    assert "runserver is Django's WSGI server" in message.msg
    assert "500 'A server error occurred'" in message.msg
    assert "RuntimeError: Event loop is closed" in message.msg
    assert "never flush" not in message.msg
    assert "python -m sse.daphne tests.sse_app.asgi:application" in message.hint


def test_daphne_after_staticfiles_is_left_to_daphne_e001() -> None:
    apps = [*apps_without("daphne"), "django.contrib.staticfiles", "daphne"]
    with override_settings(INSTALLED_APPS=apps, STATIC_URL="static/"):
        assert check_setup() == []
        with pytest.raises(SystemCheckError, match=r"daphne\.E001") as raised:
            call_command("check")
    assert "sse.E003" not in str(raised.value)


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


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", " redis://cache:6379 "])
def test_w005_reads_redis_url_from_the_settings_too(url: str) -> None:
    # The environment has none (the autouse fixture): a settings.py with REDIS_URL = "..." of its own.
    with override_settings(REDIS_URL=url):
        [message] = check_setup()
    assert (message.id, type(message)) == ("sse.W005", Warning)
    assert "REDIS_URL is set (settings.REDIS_URL)" in message.msg
    assert "channels_redis.core.RedisChannelLayer" in str(message.hint)


@pytest.mark.parametrize("url", ["", "  ", None])
def test_w005_not_raised_for_an_empty_redis_url_setting(url: str | None) -> None:
    # tests/sse_app's own settings: REDIS_URL = os.environ.get("REDIS_URL", "") -> "".
    with override_settings(REDIS_URL=url):
        assert check_setup() == []


def test_w005_names_the_environment_when_only_it_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    with override_settings(REDIS_URL=""):
        [message] = check_setup()
    assert "REDIS_URL is set (in the environment)" in message.msg


def test_w005_not_raised_with_a_redis_layer_and_the_setting() -> None:
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0", CHANNEL_LAYERS=REDIS_LAYER):
        assert check_setup() == []


def test_w005_not_raised_with_a_redis_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    with override_settings(CHANNEL_LAYERS=REDIS_LAYER):
        assert check_setup() == []


@pytest.mark.usefixtures("no_rules")
def test_w006_no_channel_rules_registered() -> None:
    [message] = check_setup()
    assert (message.id, type(message)) == ("sse.W006", Warning)
    assert "No channel rules are registered" in message.msg
    assert "@sse.channel(" in message.hint
    assert "AppConfig.ready()" in message.hint


def test_w006_not_raised_once_one_rule_is_registered(no_rules: None) -> None:
    registry.register_channel("only", lambda user: True)
    assert check_setup() == []


@pytest.mark.usefixtures("no_asgi_application")
def test_w007_asgi_application_missing() -> None:
    [message] = check_setup()
    assert (message.id, type(message)) == ("sse.W007", Warning)
    assert "ASGI_APPLICATION is not set" in message.msg
    assert "ASGI_APPLICATION = 'tests.sse_app.asgi.application'" in message.hint
    assert "from sse.asgi import get_asgi_application" in message.hint
    assert "A warning, not an error" in message.hint


WRONG_ASGI = [
    # A recipe copied from another project.
    ("mysite.asgi.application", "there is no module 'mysite'"),
    ("tests.sse_app.nowhere.application", "there is no module 'tests.sse_app.nowhere'"),
    ("tests.sse_app.asgi.app", "module 'tests.sse_app.asgi' has no attribute 'app'"),
    ("application", "is not a dotted path"),
]


@pytest.mark.parametrize(("value", "reason"), WRONG_ASGI)
def test_e008_asgi_application_cannot_be_imported(value: str, reason: str) -> None:
    with override_settings(ASGI_APPLICATION=value):
        [message] = check_setup()
    assert (message.id, type(message)) == ("sse.E008", Error)
    assert repr(value) in message.msg
    assert reason in message.msg
    assert "ASGI_APPLICATION = 'tests.sse_app.asgi.application'" in message.hint
    assert "from sse.asgi import get_asgi_application" in message.hint
    assert "An error, not a warning" in message.hint


@pytest.fixture
def asgi_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    (tmp_path / "asgi_needs_a_missing_package.py").write_text("import no_such_package_here\n")
    (tmp_path / "asgi_that_raises.py").write_text("raise RuntimeError('settings are half done')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("asgi_needs_a_missing_package", "asgi_that_raises"):
        sys.modules.pop(name, None)


@pytest.mark.usefixtures("asgi_modules")
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (
            "asgi_needs_a_missing_package.application",
            "importing 'asgi_needs_a_missing_package' raised ModuleNotFoundError: "
            "No module named 'no_such_package_here'",
        ),
        (
            "asgi_that_raises.application",
            "importing 'asgi_that_raises' raised RuntimeError: settings are half done",
        ),
    ],
)
def test_e008_tells_a_failing_module_from_a_wrong_path(value: str, reason: str) -> None:
    with override_settings(ASGI_APPLICATION=value):
        [message] = check_setup()
    assert message.id == "sse.E008"
    assert reason in message.msg


# asgi.py files as projects write them: (module source, whether Django's own handler serves HTTP).
ASGI_FILES = {
    "asgi_stock": (
        "from django.core.asgi import get_asgi_application\napplication = get_asgi_application()\n",
        True,
    ),
    "asgi_sse": ("from sse.asgi import get_asgi_application\napplication = get_asgi_application()\n", False),
    "asgi_router_stock": (
        "from channels.routing import ProtocolTypeRouter, URLRouter\n"
        "from django.core.asgi import get_asgi_application\n"
        "application = ProtocolTypeRouter({'http': get_asgi_application(), 'websocket': URLRouter([])})\n",
        True,
    ),
    "asgi_router_sse": (
        "from channels.auth import AuthMiddlewareStack\n"
        "from channels.routing import ProtocolTypeRouter, URLRouter\n"
        "from sse.asgi import get_asgi_application\n"
        "application = ProtocolTypeRouter(\n"
        "    {'http': get_asgi_application(), 'websocket': AuthMiddlewareStack(URLRouter([]))}\n"
        ")\n",
        False,
    ),
    "asgi_static_stock": (
        "from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler\n"
        "from django.core.asgi import get_asgi_application\n"
        "application = ASGIStaticFilesHandler(get_asgi_application())\n",
        True,
    ),
    "asgi_static_sse": (
        "from sse.asgi import get_asgi_application\n"
        "from sse.server.staticfiles import StaticFilesHandler\n"
        "application = StaticFilesHandler(get_asgi_application())\n",
        False,
    ),
    "asgi_middleware_stock": (
        "from django.core.asgi import get_asgi_application\n"
        "django_app = get_asgi_application()\n"
        "class Timing:\n"
        "    def __init__(self, app):\n"
        "        self.app = app\n"
        "    async def __call__(self, scope, receive, send):\n"
        "        await self.app(scope, receive, send)\n"
        "application = Timing(django_app)\n",
        True,
    ),
    "asgi_own": ("async def application(scope, receive, send):\n    pass\n", False),
}


@pytest.fixture
def asgi_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, (source, _) in ASGI_FILES.items():
        (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ASGI_FILES:
        sys.modules.pop(name, None)


@pytest.mark.usefixtures("asgi_files")
@pytest.mark.parametrize("module", [name for name, (_, stock) in ASGI_FILES.items() if stock])
def test_w012_django_own_asgi_handler(module: str) -> None:
    # STATIC_URL: the static files handlers need it (tests/sse_app serves none).
    with override_settings(ASGI_APPLICATION=f"{module}.application", STATIC_URL="static/"):
        [message] = check_setup()
    assert (message.id, type(message)) == ("sse.W012", Warning)
    assert f"ASGI_APPLICATION = '{module}.application' serves HTTP with Django's own ASGI handler" in (
        message.msg
    )
    assert "every open stream is an idle thread" in message.msg
    hint = str(message.hint)
    assert "In tests/sse_app/asgi.py, use sse's: from sse.asgi import get_asgi_application" in hint


@pytest.mark.usefixtures("asgi_files")
@pytest.mark.parametrize("module", [name for name, (_, stock) in ASGI_FILES.items() if not stock])
def test_w012_not_raised_for_sse_handler_or_an_app_of_ones_own(module: str) -> None:
    with override_settings(ASGI_APPLICATION=f"{module}.application", STATIC_URL="static/"):
        assert check_setup() == []


def test_w012_the_test_project_asgi_py_is_django_own() -> None:
    # tests/sse_app/asgi.py serves Django's handler on purpose (servers of the tests run it).
    with override_settings(ASGI_APPLICATION="tests.sse_app.asgi.application"):
        assert ids() == ["sse.W012"]


def test_w012_shows_in_manage_py_check_and_does_not_stop_it(capsys: pytest.CaptureFixture[str]) -> None:
    with override_settings(ASGI_APPLICATION="tests.sse_app.asgi.application"):
        call_command("check")
    assert "sse.W012" in capsys.readouterr().err


def test_e009_asgi_application_not_callable() -> None:
    with override_settings(ASGI_APPLICATION="tests.sse_app.settings.ROOT_URLCONF"):
        [message] = check_setup()
    assert (message.id, type(message)) == ("sse.E009", Error)
    assert "is a str, not an ASGI application" in message.msg
    assert "ASGI_APPLICATION = 'tests.sse_app.asgi.application'" in message.hint


@pytest.mark.parametrize(
    ("settings_module", "asgi_module"),
    [
        ("mysite.settings", "mysite.asgi"),
        ("config.settings.production", "config.asgi"),
        ("tests.sse_app.settings", "tests.sse_app.asgi"),
        ("settings", "asgi"),
    ],
)
def test_the_hints_name_this_projects_asgi_module(settings_module: str, asgi_module: str) -> None:
    with override_settings(SETTINGS_MODULE=settings_module):
        assert project_asgi_module() == asgi_module


@pytest.mark.usefixtures("no_rules", "no_asgi_application")
def test_every_mistake_at_once() -> None:
    apps = [*apps_without("daphne")]
    with override_settings(
        CHANNEL_LAYERS={}, INSTALLED_APPS=apps, MIDDLEWARE=["django.middleware.gzip.GZipMiddleware"]
    ):
        assert ids() == ["sse.E001", "sse.W002", "sse.W004", "sse.W006", "sse.W007"]


def test_checks_are_bound_to_manage_py_check() -> None:
    call_command("check")  # clean: no exception
    with override_settings(CHANNEL_LAYERS={}), pytest.raises(SystemCheckError, match=r"sse\.E001"):
        call_command("check")


@pytest.mark.parametrize(
    ("value", "check_id"),
    [("mysite.asgi.application", "sse.E008"), ("tests.sse_app.settings.ROOT_URLCONF", "sse.E009")],
)
def test_a_wrong_asgi_application_stops_manage_py_check(value: str, check_id: str) -> None:
    with override_settings(ASGI_APPLICATION=value), pytest.raises(SystemCheckError, match=check_id):
        call_command("check")


def test_warnings_show_in_manage_py_check(capsys: pytest.CaptureFixture[str]) -> None:
    with override_settings(MIDDLEWARE=["django.middleware.gzip.GZipMiddleware", *settings.MIDDLEWARE]):
        call_command("check")
    assert "sse.W004" in capsys.readouterr().err


@pytest.mark.usefixtures("no_rules", "no_asgi_application")
def test_w006_and_w007_show_in_manage_py_check_and_do_not_stop_it(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("check")  # warnings only: no exception
    err = capsys.readouterr().err
    for check_id in ("sse.W006", "sse.W007"):
        assert check_id in err


def test_w002_shows_in_manage_py_check(capsys: pytest.CaptureFixture[str]) -> None:
    # Only the compatibility checks: daphne's own check, registered when the test project's
    # daphne app got ready, returns None once neither daphne nor staticfiles is installed.
    with override_settings(INSTALLED_APPS=apps_without("daphne")):
        call_command("check", tags=["compatibility"])
    assert "sse.W002" in capsys.readouterr().err


# Each SSE_* setting set wrong, and what its check (its own id, from sse.conf's table) says.
INVALID_SETTINGS: list[tuple[str, Any, str]] = [
    ("SSE_RETRY_MS", "2000", "SSE_RETRY_MS = '2000' is a str; expected an integer >= 0."),
    ("SSE_RETRY_MS", -1, "SSE_RETRY_MS = -1 is out of range; expected an integer >= 0."),
    ("SSE_RETRY_MS", 1.5, "SSE_RETRY_MS = 1.5 is a float; expected an integer >= 0."),
    ("SSE_RETRY_MS", True, "SSE_RETRY_MS = True is a bool; expected an integer >= 0."),
    ("SSE_REQUEST_THREADS", -1, "SSE_REQUEST_THREADS = -1 is out of range; expected an integer >= 0."),
    ("SSE_REPLAYS_PER_USER", -1, "SSE_REPLAYS_PER_USER = -1 is out of range; expected an integer >= 0."),
    ("SSE_REPLAYS_PER_PROCESS", 1.5, "SSE_REPLAYS_PER_PROCESS = 1.5 is a float; expected an integer >= 0."),
    ("SSE_REPLAY_SHARE", 0, "SSE_REPLAY_SHARE = 0 is out of range; expected a number above 0, at most 1."),
    (
        "SSE_SHUTDOWN_RETRY_SPREAD_MS",
        "1s",
        "SSE_SHUTDOWN_RETRY_SPREAD_MS = '1s' is a str; expected an integer >= 0.",
    ),
    ("SSE_LISTEN_BACKLOG", 0, "SSE_LISTEN_BACKLOG = 0 is out of range; expected an integer > 0."),
    ("SSE_GC_THRESHOLD", -1, "SSE_GC_THRESHOLD = -1 is out of range; expected an integer >= 0."),
    (
        "SSE_OVER_CAPACITY_RETRY_MS",
        -10,
        "SSE_OVER_CAPACITY_RETRY_MS = -10 is out of range; expected an integer >= 0.",
    ),
    (
        "SSE_MAX_STREAMS_PER_USER",
        -1,
        "SSE_MAX_STREAMS_PER_USER = -1 is out of range; expected an integer >= 0.",
    ),
    (
        "SSE_MAX_STREAMS_PER_PROCESS",
        "50",
        "SSE_MAX_STREAMS_PER_PROCESS = '50' is a str; expected an integer >= 0.",
    ),
    (
        "SSE_LOG_MAX_AGE_SECONDS",
        -1,
        "SSE_LOG_MAX_AGE_SECONDS = -1 is out of range; expected an integer >= 0.",
    ),
    (
        "SSE_LOG_MAX_EVENTS_PER_CHANNEL",
        100.0,
        "SSE_LOG_MAX_EVENTS_PER_CHANNEL = 100.0 is a float; expected an integer >= 0.",
    ),
    ("SSE_QUEUE_MAX_FRAMES", 0, "SSE_QUEUE_MAX_FRAMES = 0 is out of range; expected an integer > 0."),
    ("SSE_QUEUE_MAX_BYTES", None, "SSE_QUEUE_MAX_BYTES = None is a NoneType; expected an integer > 0."),
    ("SSE_TOKEN_MAX_AGE", 0, "SSE_TOKEN_MAX_AGE = 0 is out of range; expected an integer > 0."),
    ("SSE_MAX_EVENT_BYTES", "256k", "SSE_MAX_EVENT_BYTES = '256k' is a str; expected an integer > 0."),
    ("SSE_HEARTBEAT_SECONDS", 0, "SSE_HEARTBEAT_SECONDS = 0 is out of range; expected a number > 0."),
    ("SSE_HEARTBEAT_SECONDS", "15", "SSE_HEARTBEAT_SECONDS = '15' is a str; expected a number > 0."),
    (
        "SSE_SEND_TIMEOUT_SECONDS",
        -1.0,
        "SSE_SEND_TIMEOUT_SECONDS = -1.0 is out of range; expected a number > 0.",
    ),
    ("SSE_LOG_POLL_SECONDS", 0.0, "SSE_LOG_POLL_SECONDS = 0.0 is out of range; expected a number > 0."),
    (
        "SSE_BODY_TIMEOUT_SECONDS",
        -1,
        "SSE_BODY_TIMEOUT_SECONDS = -1 is out of range; expected a number >= 0.",
    ),
    (
        "SSE_BODY_MIN_BYTES_PER_SECOND",
        "500",
        "SSE_BODY_MIN_BYTES_PER_SECOND = '500' is a str; expected an integer >= 0.",
    ),
    (
        "SSE_ACCESS_RECHECK_SECONDS",
        0,
        "SSE_ACCESS_RECHECK_SECONDS = 0 is out of range; expected a number > 0.",
    ),
    (
        "SSE_GROUP_REFRESH_SECONDS",
        float("nan"),
        "SSE_GROUP_REFRESH_SECONDS = nan is out of range; expected a number > 0.",
    ),
    (
        "SSE_LOG_TRIM_INTERVAL_SECONDS",
        [300],
        "SSE_LOG_TRIM_INTERVAL_SECONDS = [300] is a list; expected a number > 0.",
    ),
    (
        "SSE_MAX_LIFETIME_SECONDS",
        -1,
        "SSE_MAX_LIFETIME_SECONDS = -1 is out of range; expected a number >= 0.",
    ),
    ("SSE_SHUTDOWN_GRACE_SECONDS", "5", "SSE_SHUTDOWN_GRACE_SECONDS = '5' is a str; expected a number >= 0."),
    (
        "SSE_MAX_LIFETIME_JITTER",
        1.5,
        "SSE_MAX_LIFETIME_JITTER = 1.5 is out of range; expected a number between 0 and 1.",
    ),
    (
        "SSE_MAX_LIFETIME_JITTER",
        -0.1,
        "SSE_MAX_LIFETIME_JITTER = -0.1 is out of range; expected a number between 0 and 1.",
    ),
    ("SSE_CHANNEL_LAYER", 5, "SSE_CHANNEL_LAYER = 5 is an int; expected a str (a CHANNEL_LAYERS alias)."),
    (
        "SSE_STREAM_PATHS",
        "/stream/$",
        "SSE_STREAM_PATHS = '/stream/$' is a str; expected a list or tuple of regular expressions.",
    ),
    (
        "SSE_STREAM_PATHS",
        ["/stream/$", "/live/("],
        "SSE_STREAM_PATHS[1] = '/live/(' is not a valid regular expression: missing ), "
        "unterminated subpattern",
    ),
    (
        "SSE_STREAM_PATHS",
        (b"/stream/$",),
        "SSE_STREAM_PATHS[0] = b'/stream/$' is a bytes; expected a regular expression (a str).",
    ),
    (
        "SSE_EVENT_LOG",
        "sse.storage.db.DatabaseEventLog",
        "SSE_EVENT_LOG = 'sse.storage.db.DatabaseEventLog' is a str; expected a dict {'BACKEND': ",
    ),
    (
        "SSE_EVENT_LOG",
        {"BACKEND": "mysite.events.EventLog"},
        "SSE_EVENT_LOG['BACKEND'] = 'mysite.events.EventLog' cannot be imported: "
        "there is no module 'mysite'; expected an EventLog class.",
    ),
    (
        "SSE_EVENT_LOG",
        {"BACKEND": "sse.storage.db.RedisEventLog"},
        "SSE_EVENT_LOG['BACKEND'] = 'sse.storage.db.RedisEventLog' cannot be imported: "
        "module 'sse.storage.db' has no attribute 'RedisEventLog'",
    ),
    (
        "SSE_EVENT_LOG",
        {"BACKEND": "DatabaseEventLog"},
        "SSE_EVENT_LOG['BACKEND'] = 'DatabaseEventLog' is not a dotted path 'module.EventLogClass'.",
    ),
    (
        "SSE_EVENT_LOG",
        {"BACKEND": "sse.storage.DEFAULT_BACKEND"},
        "SSE_EVENT_LOG['BACKEND'] = 'sse.storage.DEFAULT_BACKEND' is a str; expected an EventLog class.",
    ),
    (
        "SSE_EVENT_LOG",
        {"BACKEND": 5},
        "SSE_EVENT_LOG['BACKEND'] = 5 is an int; expected the dotted path of an EventLog class.",
    ),
    (
        "SSE_EVENT_LOG",
        {"OPTIONS": ["default"]},
        "SSE_EVENT_LOG['OPTIONS'] = ['default'] is a list; expected a dict of the backend's arguments.",
    ),
    (
        "SSE_EVENT_LOG",
        {"OPTION": {"using": "default"}},
        "SSE_EVENT_LOG has an unknown key 'OPTION'; expected a dict",
    ),
]


def sse_settings() -> list[str]:
    return sorted(row.name for row in Settings.table())


def check_id_of(name: str) -> str:
    return next(row.check_id for row in Settings.table() if row.name == name)


@pytest.mark.parametrize(("name", "value", "expected"), INVALID_SETTINGS)
def test_each_invalid_setting_has_its_own_id(name: str, value: Any, expected: str) -> None:
    with override_settings(**{name: value}):
        [message] = check_settings()
    assert (message.id, type(message)) == (check_id_of(name), Error)
    assert message.msg.startswith(expected)
    assert message.hint.startswith(f"{name}: ")
    assert "delete it to get its default" in message.hint


def test_the_hint_says_what_the_setting_is_and_how_to_write_it() -> None:
    with override_settings(SSE_HEARTBEAT_SECONDS="15"):
        [message] = check_settings()
    assert message.id == "sse.E101"
    assert message.hint == (
        "SSE_HEARTBEAT_SECONDS: Seconds of silence after which a stream gets a comment line. "
        "Give it a number > 0, or delete it to get its default (15.0). Settings are Python values: "
        "convert what comes from the environment in settings.py "
        "(SSE_HEARTBEAT_SECONDS = float(os.environ['SSE_HEARTBEAT_SECONDS']))."
    )


def test_one_id_per_setting_in_table_order() -> None:
    """sse.E101, sse.E102, ...: one per row, none shared, none of the other checks' ids."""
    found = [row.check_id for row in Settings.table()]
    assert found == [f"sse.E{101 + index}" for index in range(len(found))]


def test_every_setting_is_checked() -> None:
    """A wrong value of each setting in the table above (SSE_AUTHENTICATION_CLASSES's are in
    tests/sse/test_api_auth.py)."""
    elsewhere = {"SSE_AUTHENTICATION_CLASSES"}
    assert sorted({name for name, _, _ in INVALID_SETTINGS} | elsewhere) == sse_settings()


def test_one_error_per_wrong_value() -> None:
    with override_settings(
        SSE_RETRY_MS=-1, SSE_STREAM_PATHS=["(", "["], SSE_EVENT_LOG={"BACKEND": "x.Y", "X": 1}
    ):
        messages = [(message.msg.split(" ")[0], message.id) for message in check_settings()]
    assert messages == [
        ("SSE_RETRY_MS", "sse.E102"),
        ("SSE_STREAM_PATHS[0]", "sse.E103"),
        ("SSE_STREAM_PATHS[1]", "sse.E103"),
        ("SSE_EVENT_LOG", "sse.E129"),
        ("SSE_EVENT_LOG['BACKEND']", "sse.E129"),
    ]


@pytest.fixture
def sse_unset() -> Iterator[None]:
    with override_settings():
        for name in sse_settings():
            if hasattr(settings, name):
                delattr(settings, name)
        conf.reload()  # delattr sends no setting_changed
        yield
    conf.reload()


@pytest.mark.usefixtures("sse_unset")
def test_no_error_for_the_defaults() -> None:
    assert check_settings() == []
    defaults = {name: getattr(conf, name) for name in sse_settings()}
    with override_settings(**defaults):
        assert check_settings() == []


VALID_SETTINGS: list[tuple[str, Any]] = [
    ("SSE_RETRY_MS", 0),
    ("SSE_HEARTBEAT_SECONDS", 1),  # an int where a number will do
    ("SSE_HEARTBEAT_SECONDS", 0.5),
    ("SSE_MAX_LIFETIME_JITTER", 0),
    ("SSE_MAX_LIFETIME_JITTER", 1.0),
    ("SSE_MAX_STREAMS_PER_USER", 0),
    ("SSE_STREAM_PATHS", []),
    ("SSE_STREAM_PATHS", (r"^/live/", r"/events/\d+/$")),
    ("SSE_EVENT_LOG", None),
    ("SSE_EVENT_LOG", {}),
    ("SSE_EVENT_LOG", {"BACKEND": "sse.storage.db.DatabaseEventLog", "OPTIONS": {"using": "default"}}),
]


@pytest.mark.parametrize(("name", "value"), VALID_SETTINGS)
def test_no_error_for_valid_values(name: str, value: Any) -> None:
    with override_settings(**{name: value}):
        assert check_settings() == []


def test_a_wrong_setting_stops_manage_py_check() -> None:
    with (
        override_settings(SSE_RETRY_MS="2000"),
        pytest.raises(SystemCheckError, match=r"sse\.E102") as raised,
    ):
        call_command("check")
    assert "SSE_RETRY_MS = '2000' is a str; expected an integer >= 0." in str(raised.value)


def test_a_wrong_channel_layer_setting_is_its_own_error_only() -> None:
    """The layer checks (sse.E001, sse.W005) leave a wrong SSE_CHANNEL_LAYER to sse.E128."""
    with override_settings(SSE_CHANNEL_LAYER=5):
        assert check_setup() == []
        [message] = check_settings()
    assert message.id == "sse.E128"
