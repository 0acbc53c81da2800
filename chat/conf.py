"""Settings of the chat app, read live so ``override_settings`` works."""

from __future__ import annotations

from django.conf import settings


class Settings:
    # Longest message body, in characters (after trimming).
    @property
    def MAX_MESSAGE_LENGTH(self) -> int:
        return int(getattr(settings, "CHAT_MAX_MESSAGE_LENGTH", 2000))

    # Rate limit per user, over all rooms: at most RATE_LIMIT_MESSAGES messages in any
    # RATE_LIMIT_WINDOW_SECONDS; 0 messages turns the limit off.
    @property
    def RATE_LIMIT_MESSAGES(self) -> int:
        return int(getattr(settings, "CHAT_RATE_LIMIT_MESSAGES", 20))

    @property
    def RATE_LIMIT_WINDOW_SECONDS(self) -> int:
        return int(getattr(settings, "CHAT_RATE_LIMIT_WINDOW_SECONDS", 60))

    # How many recent messages the room page renders (and a ?before= page holds).
    @property
    def HISTORY_ON_PAGE(self) -> int:
        return int(getattr(settings, "CHAT_HISTORY_ON_PAGE", 50))

    # Each server process refreshes its presence rows this often, and sweeps rows
    # nobody refreshed for PRESENCE_TTL_SECONDS (their process died without goodbye).
    @property
    def PRESENCE_HEARTBEAT_SECONDS(self) -> float:
        return float(getattr(settings, "CHAT_PRESENCE_HEARTBEAT_SECONDS", 10.0))

    @property
    def PRESENCE_TTL_SECONDS(self) -> float:
        return float(getattr(settings, "CHAT_PRESENCE_TTL_SECONDS", 30.0))

    # Each server process announces a room's presence at most once per this many seconds:
    # changes in between are coalesced and the last state goes out when the time is up.
    @property
    def PRESENCE_MIN_INTERVAL_SECONDS(self) -> float:
        return float(getattr(settings, "CHAT_PRESENCE_MIN_INTERVAL_SECONDS", 1.0))


conf = Settings()
