"""The project's own settings plus one bench-only endpoint (a burst of publishes)."""

import os

from project.settings import *  # noqa: F403

ROOT_URLCONF = "bench.projectbench.urls"

# The connect-rate run opens thousands of streams with one token: it must outlive the run.
SSE_TOKEN_MAX_AGE = int(os.environ.get("SSE_TOKEN_MAX_AGE", "3600"))
