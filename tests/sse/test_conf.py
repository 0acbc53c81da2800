"""sse.conf: one row per setting, named as the setting, with its default; cached, reset on setting_changed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from sse.conf import DEFAULT_STREAM_PATHS, Settings, conf

SSE = Path(__file__).resolve().parents[2] / "sse"

# Each setting's default, as the README's Settings table gives it (and the rest).
DEFAULTS: dict[str, Any] = {
    "SSE_RETRY_MS": 2000,
    "SSE_HEARTBEAT_SECONDS": 15.0,
    "SSE_MAX_LIFETIME_SECONDS": 0.0,
    "SSE_MAX_LIFETIME_JITTER": 0.1,
    "SSE_MAX_STREAMS_PER_USER": 0,
    "SSE_MAX_STREAMS_PER_PROCESS": 0,
    "SSE_OVER_CAPACITY_RETRY_MS": 10000,
    "SSE_QUEUE_MAX_FRAMES": 10000,
    "SSE_QUEUE_MAX_BYTES": 4 * 1024 * 1024,
    "SSE_SEND_TIMEOUT_SECONDS": 30.0,
    "SSE_SHUTDOWN_GRACE_SECONDS": 5.0,
    "SSE_SHUTDOWN_RETRY_SPREAD_MS": 3000,
    "SSE_LISTEN_BACKLOG": 2048,
    "SSE_REQUEST_THREADS": 0,
    "SSE_REPLAYS_PER_USER": 2,
    "SSE_REPLAYS_PER_PROCESS": 8,
    "SSE_REPLAY_SHARE": 1.0,
    "SSE_GC_THRESHOLD": 50000,
    "SSE_TOKEN_MAX_AGE": 300,
    "SSE_CHANNEL_LAYER": "default",
    "SSE_LOG_POLL_SECONDS": 0.5,
    "SSE_GROUP_REFRESH_SECONDS": 3600.0,
    "SSE_LOG_MAX_AGE_SECONDS": 24 * 3600,
    "SSE_LOG_MAX_EVENTS_PER_CHANNEL": 10000,
    "SSE_LOG_TRIM_INTERVAL_SECONDS": 300.0,
    "SSE_MAX_EVENT_BYTES": 256 * 1024,
    "SSE_STREAM_PATHS": (r"/stream/$",),
    "SSE_EVENT_LOG": {},
    "SSE_ACCESS_RECHECK_SECONDS": 30.0,
    "SSE_AUTHENTICATION_CLASSES": None,
    "SSE_BODY_TIMEOUT_SECONDS": 30.0,
    "SSE_BODY_MIN_BYTES_PER_SECOND": 500,
}

# A value unlike the default for each setting, to see that its property reads that setting.
OTHERS: dict[str, Any] = {
    "SSE_RETRY_MS": 1234,
    "SSE_HEARTBEAT_SECONDS": 2.5,
    "SSE_MAX_LIFETIME_SECONDS": 60.0,
    "SSE_MAX_LIFETIME_JITTER": 0.25,
    "SSE_MAX_STREAMS_PER_USER": 3,
    "SSE_MAX_STREAMS_PER_PROCESS": 30,
    "SSE_OVER_CAPACITY_RETRY_MS": 777,
    "SSE_QUEUE_MAX_FRAMES": 55,
    "SSE_QUEUE_MAX_BYTES": 4096,
    "SSE_SEND_TIMEOUT_SECONDS": 9.0,
    "SSE_SHUTDOWN_GRACE_SECONDS": 1.5,
    "SSE_SHUTDOWN_RETRY_SPREAD_MS": 500,
    "SSE_LISTEN_BACKLOG": 128,
    "SSE_REQUEST_THREADS": 2,
    "SSE_GC_THRESHOLD": 0,
    "SSE_TOKEN_MAX_AGE": 42,
    "SSE_CHANNEL_LAYER": "events",
    "SSE_LOG_POLL_SECONDS": 0.125,
    "SSE_GROUP_REFRESH_SECONDS": 60.0,
    "SSE_LOG_MAX_AGE_SECONDS": 3600,
    "SSE_LOG_MAX_EVENTS_PER_CHANNEL": 12,
    "SSE_LOG_TRIM_INTERVAL_SECONDS": 30.0,
    "SSE_MAX_EVENT_BYTES": 1000,
    "SSE_STREAM_PATHS": [r"^/live/"],
    "SSE_EVENT_LOG": {"BACKEND": "sse.storage.db.DatabaseEventLog", "OPTIONS": {"using": "default"}},
    "SSE_ACCESS_RECHECK_SECONDS": 2.0,
    "SSE_BODY_TIMEOUT_SECONDS": 4.5,
    "SSE_BODY_MIN_BYTES_PER_SECOND": 2000,
    "SSE_AUTHENTICATION_CLASSES": ["rest_framework.authentication.TokenAuthentication"],
}


def properties() -> list[str]:
    return sorted(row.name for row in Settings.table())


@pytest.fixture
def unset() -> Iterator[None]:
    """Every SSE_* setting deleted (the test project sets a few)."""
    with override_settings():
        for name in properties():
            if hasattr(settings, name):
                delattr(settings, name)
        conf.reload()  # delattr sends no setting_changed
        yield
    conf.reload()


def test_every_row_is_named_as_its_setting() -> None:
    assert properties() == sorted(DEFAULTS)
    assert all(name.startswith("SSE_") for name in properties())


def test_the_old_short_names_are_gone() -> None:
    for name in ("RETRY_MS", "HEARTBEAT_SECONDS", "CHANNEL_LAYER", "MAX_EVENT_BYTES"):
        assert not hasattr(conf, name), name


@pytest.mark.usefixtures("unset")
@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_each_default(name: str) -> None:
    value = getattr(conf, name)
    assert value == DEFAULTS[name]
    assert type(value) is type(DEFAULTS[name])


def test_the_default_stream_paths_are_the_asgi_handlers() -> None:
    from sse.server import asgi

    assert asgi.DEFAULT_STREAM_PATHS is DEFAULT_STREAM_PATHS == DEFAULTS["SSE_STREAM_PATHS"]


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_override_settings_is_seen_at_once(name: str) -> None:
    before = getattr(conf, name)
    assert before != OTHERS[name]
    with override_settings(**{name: OTHERS[name]}):
        assert getattr(conf, name) == OTHERS[name]
    assert getattr(conf, name) == before


def test_an_empty_event_log_setting_is_the_default_backend() -> None:
    with override_settings(SSE_EVENT_LOG=None):
        assert conf.SSE_EVENT_LOG == {}


def test_every_reader_in_sse_uses_the_settings_name() -> None:
    """``grep SSE_RETRY_MS sse`` finds every reader: no ``conf.RETRY_MS`` left, no getattr elsewhere."""
    short = re.compile(r"\bconf\.(?!SSE_)[A-Z][A-Z0-9_]+\b")
    direct = re.compile(r"getattr\(settings, \"SSE_")
    found = []
    for path in sorted(SSE.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if short.search(line) or (direct.search(line) and path.name != "conf.py"):
                found.append(f"{path.relative_to(SSE.parent)}:{number}: {line.strip()}")
    assert found == []


def test_a_value_is_read_once_and_kept_on_conf() -> None:
    """Later reads are a plain attribute of conf: no django.conf look-up on a hot path."""
    conf.reload("SSE_RETRY_MS")
    assert "SSE_RETRY_MS" not in vars(conf)
    value = conf.SSE_RETRY_MS
    assert vars(conf)["SSE_RETRY_MS"] == value
    with override_settings(SSE_RETRY_MS=value + 1):  # setting_changed drops it, once in, once out
        assert "SSE_RETRY_MS" not in vars(conf)
        assert conf.SSE_RETRY_MS == value + 1
    assert "SSE_RETRY_MS" not in vars(conf)
    assert conf.SSE_RETRY_MS == value


def test_other_settings_changing_keep_the_cache() -> None:
    assert conf.SSE_RETRY_MS
    with override_settings(DEBUG=True):
        assert "SSE_RETRY_MS" in vars(conf)


def test_reload_forgets_every_setting() -> None:
    assert conf.SSE_RETRY_MS and conf.SSE_TOKEN_MAX_AGE
    conf.reload()
    assert not [name for name in vars(conf) if name.startswith("SSE_")]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "SSE_HEARTBEAT_SECONDS",
            "15",
            "SSE_HEARTBEAT_SECONDS = '15' is a str; expected a number > 0. (sse.E101)",
        ),
        (
            "SSE_TOKEN_MAX_AGE",
            -10,
            "SSE_TOKEN_MAX_AGE = -10 is out of range; expected an integer > 0. (sse.E120)",
        ),
        ("SSE_RETRY_MS", 1.5, "SSE_RETRY_MS = 1.5 is a float; expected an integer >= 0."),
        ("SSE_CHANNEL_LAYER", 5, "SSE_CHANNEL_LAYER = 5 is an int; expected a str"),
    ],
)
def test_a_wrong_value_is_never_coerced(name: str, value: Any, message: str) -> None:
    """Read anyway (a server that runs no checks), it raises, naming the setting and its check."""
    with override_settings(**{name: value}), pytest.raises(ImproperlyConfigured) as raised:
        getattr(conf, name)
    assert str(raised.value).startswith(message)
    assert f"({getattr(Settings, name).check_id})" in str(raised.value)
    assert "delete it to get its default" in str(raised.value)
    assert name not in vars(conf)  # nothing kept: fixed, it is read again


def test_a_number_setting_takes_an_int() -> None:
    with override_settings(SSE_HEARTBEAT_SECONDS=1):
        assert conf.SSE_HEARTBEAT_SECONDS == 1.0
        assert type(conf.SSE_HEARTBEAT_SECONDS) is float


def test_the_readmes_settings_table_gives_each_settings_check_id() -> None:
    readme = (SSE.parent / "README.md").read_text(encoding="utf-8")
    for row in Settings.table():
        line = next(
            (
                line
                for line in readme.splitlines()
                if line.startswith("| `") and f"`{row.name}`" in line.split("|")[1]
            ),
            "",
        )
        assert f"`{row.check_id}`" in line, (row.name, line)


@override_settings(SSE_HEARTBEAT_SECONDS="15", SSE_RETRY_MS="soon")
def test_validate_names_every_wrong_setting() -> None:
    with pytest.raises(ImproperlyConfigured) as raised:
        conf.validate()
    assert "(sse.E101)" in str(raised.value) and "SSE_HEARTBEAT_SECONDS" in str(raised.value)
    assert "SSE_RETRY_MS" in str(raised.value)


def test_validate_passes_the_defaults() -> None:
    conf.validate()
