"""The demo project with its streams' access re-checked every ``SSE_ACCESS_RECHECK_SECONDS``
from the environment, so tests see a lost access end a stream in seconds."""

from __future__ import annotations

import os

from tests.site_settings import *  # noqa: F403

SSE_ACCESS_RECHECK_SECONDS = float(os.environ.get("SSE_ACCESS_RECHECK_SECONDS", "30"))
