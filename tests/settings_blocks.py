"""The settings blocks the test projects share: tests/sse_app's and tests/delivery's.

One definition of the SQLite tuning, the channel layer from ``REDIS_URL`` and the ``SSE_*``
knobs read from the environment. The demo's project/settings.py writes the same two blocks
out itself (the demo must not import from tests/, and tests/sse_app must not import the
demo's settings, which need the demo's requirements); tests/test_settings_blocks.py checks
that every settings module agrees with this one.

Nothing here imports Django or an app: settings modules import it before Django is set up.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

LAYER_CAPACITY = 1000


def sqlite_options() -> dict[str, Any]:
    """OPTIONS of a SQLite database that several processes (servers, publishers) share.

    Wait for the lock instead of failing, take it at BEGIN, and let readers run beside the
    writer (WAL).
    """
    return {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }


def redis_url() -> str:
    """``REDIS_URL`` from the environment, stripped; empty when unset."""
    return os.environ.get("REDIS_URL", "").strip()


def channel_layers(url: str, capacity: int = LAYER_CAPACITY) -> dict[str, Any]:
    """CHANNEL_LAYERS: channels_redis on ``url``, or the in-memory layer without one."""
    if not url:
        return {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # channels_redis blocks up to 5 s per receive, and redis-py >= 8 reads with a
            # 5 s socket timeout by default: an idle receive() would time out client-side
            # (a layer error, and a pop racing the disconnect is lost). Give it room.
            "CONFIG": {"hosts": [{"address": url, "socket_timeout": 30}], "capacity": capacity},
        }
    }


def from_environment(names: Mapping[str, Callable[[str], Any]]) -> dict[str, Any]:
    """The settings among ``names`` that the environment sets (non-empty), converted.

    ``names`` maps a setting's name to its type (``int``, ``float``); a setting the
    environment leaves unset is left out, so Django's or sse's default applies.
    """
    return {name: convert(os.environ[name]) for name, convert in names.items() if os.environ.get(name)}
