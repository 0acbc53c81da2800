"""The demo's settings as tests/deploy serves them, with its timeouts from the environment.

``tests.site_settings`` (the demo project, a fast password hasher), plus
``SSE_SEND_TIMEOUT_SECONDS`` and ``SSE_BODY_TIMEOUT_SECONDS`` from the environment (a slow
client is cut off sooner than the default 30 s) and a token lifetime that outlasts the module.
"""

from __future__ import annotations

import os

from tests.site_settings import *  # noqa: F403

SSE_SEND_TIMEOUT_SECONDS = float(os.environ.get("SSE_SEND_TIMEOUT_SECONDS", "30"))
SSE_BODY_TIMEOUT_SECONDS = float(os.environ.get("SSE_BODY_TIMEOUT_SECONDS", "30"))
SSE_TOKEN_MAX_AGE = 3600
