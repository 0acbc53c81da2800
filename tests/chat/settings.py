"""The project's settings with the chat knobs the tests need: a rate limit whose
window outlasts a test run (so counts are exact on a slow machine) and a short
presence expiry (so a killed server's users leave the list within seconds)."""

from tests.site_settings import *  # noqa: F403

CHAT_RATE_LIMIT_MESSAGES = 20
CHAT_RATE_LIMIT_WINDOW_SECONDS = 3600
CHAT_PRESENCE_HEARTBEAT_SECONDS = 2.0
CHAT_PRESENCE_TTL_SECONDS = 10.0
# Longest a user can stay listed after the process serving them died.
PRESENCE_BOUND_SECONDS = CHAT_PRESENCE_TTL_SECONDS + CHAT_PRESENCE_HEARTBEAT_SECONDS
