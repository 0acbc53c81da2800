"""Settings for the delivery tests: the project's, with only the ``sse`` app.

The delivery guarantees belong to ``sse``, so these servers run it alone (plus a
rule for ``test.*`` channels): the demo apps can change without touching them.
Knobs come from the environment so each test starts its server as it needs:
``SSE_TEST_LAYER_CAPACITY`` (channels_redis capacity), and the SSE_* settings
listed below. The channel layer is tests/settings_blocks.py's, as tests/sse_app's is.
"""

from __future__ import annotations

import os

from project.settings import *  # noqa: F403
from project.settings import REDIS_URL
from tests.settings_blocks import LAYER_CAPACITY, channel_layers, from_environment

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "sse",
    "tests.delivery.apps.DeliveryTestsConfig",
]
ROOT_URLCONF = "tests.delivery.urls"

# Sessions are made directly (tests.delivery.accounts): keep hashing cheap on a loaded machine.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

CHANNEL_LAYERS = channel_layers(REDIS_URL, int(os.environ.get("SSE_TEST_LAYER_CAPACITY") or LAYER_CAPACITY))

_INTEGERS = (
    "SSE_QUEUE_MAX_BYTES",
    "SSE_QUEUE_MAX_FRAMES",
    "SSE_RETRY_MS",
    "SSE_LOG_MAX_EVENTS_PER_CHANNEL",
    "SSE_REPLAYS_PER_USER",
    "SSE_REPLAYS_PER_PROCESS",
)
_NUMBERS = ("SSE_LOG_POLL_SECONDS", "SSE_SEND_TIMEOUT_SECONDS", "SSE_SHUTDOWN_GRACE_SECONDS")
globals().update(from_environment({**dict.fromkeys(_INTEGERS, int), **dict.fromkeys(_NUMBERS, float)}))
