"""The project's settings, with the middleware and the handler chosen per rung of the ladder.

``LADDER_MIDDLEWARE=none`` drops every middleware; anything else keeps the demo's.
"""

import os

from project.settings import *  # noqa: F403
from project.settings import MIDDLEWARE as DEMO_MIDDLEWARE

ROOT_URLCONF = "bench.ladder.urls"
MIDDLEWARE = [] if os.environ.get("LADDER_MIDDLEWARE") == "none" else DEMO_MIDDLEWARE
SSE_MAX_STREAMS_PER_USER = 0
SSE_MAX_STREAMS_PER_PROCESS = 0
