"""Which channels exist and who may read them. A channel with no rule is unreadable."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async

__all__ = [
    "AccessRule",
    "ChannelNotFound",
    "ChannelPattern",
    "channel",
    "check_access",
    "find_pattern",
    "register_channel",
    "registered_patterns",
    "validate_channel_name",
]

CHANNEL_NAME = re.compile(r"[A-Za-z0-9._-]{1,80}")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

# rule(user, **placeholders) -> bool; may be sync or async; may raise ChannelNotFound.
AccessRule = Callable[..., bool | Awaitable[bool]]


class ChannelNotFound(Exception):
    """Raised by an access rule when the thing a channel names does not exist."""


def validate_channel_name(name: object) -> str:
    if not isinstance(name, str) or not CHANNEL_NAME.fullmatch(name):
        raise ValueError(f"invalid channel name {name!r}: use 1-80 characters from A-Z a-z 0-9 . _ -")
    return name


@dataclass(frozen=True)
class ChannelPattern:
    pattern: str
    rule: AccessRule
    regex: re.Pattern[str]
    ephemeral: bool = False

    def match(self, name: str) -> dict[str, str] | None:
        m = self.regex.fullmatch(name)
        return m.groupdict() if m else None


_patterns: dict[str, ChannelPattern] = {}


def _compile(pattern: str) -> re.Pattern[str]:
    regex = ""
    pos = 0
    for m in _PLACEHOLDER.finditer(pattern):
        regex += re.escape(pattern[pos : m.start()]) + f"(?P<{m.group(1)}>[A-Za-z0-9_-]+)"
        pos = m.end()
    regex += re.escape(pattern[pos:])
    return re.compile(regex)


def register_channel(pattern: str, rule: AccessRule, *, ephemeral: bool = False) -> None:
    """Make channels matching ``pattern`` readable by users ``rule`` allows.

    ``pattern`` is a channel name with ``{placeholders}`` (one name segment
    each, no dots); ``rule(user, **placeholders)`` returns True to allow.
    ``ephemeral`` channels keep only their latest event (no replay history).
    """
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("pattern must be a non-empty string")
    example = _PLACEHOLDER.sub("x", pattern)
    validate_channel_name(example)
    if not callable(rule):
        raise TypeError("rule must be callable: rule(user, **placeholders) -> bool")
    _patterns[pattern] = ChannelPattern(pattern, rule, _compile(pattern), ephemeral)


def channel(pattern: str, *, ephemeral: bool = False) -> Callable[[AccessRule], AccessRule]:
    """Decorator form of :func:`register_channel`."""

    def decorator(rule: AccessRule) -> AccessRule:
        register_channel(pattern, rule, ephemeral=ephemeral)
        return rule

    return decorator


def unregister_channel(pattern: str) -> None:
    _patterns.pop(pattern, None)


def registered_patterns() -> tuple[str, ...]:
    """Every registered channel pattern, sorted (empty until some ``ready()`` registers one)."""
    return tuple(sorted(_patterns))


def find_pattern(name: str) -> tuple[ChannelPattern, dict[str, str]] | None:
    # Literal patterns win over placeholder ones; then the longest pattern.
    for pattern in sorted(_patterns.values(), key=lambda p: ("{" in p.pattern, -len(p.pattern))):
        params = pattern.match(name)
        if params is not None:
            return pattern, params
    return None


def is_ephemeral(name: str) -> bool:
    found = find_pattern(name)
    return bool(found and found[0].ephemeral)


async def _call_rule(rule: AccessRule, user: Any, params: dict[str, str]) -> bool:
    if inspect.iscoroutinefunction(rule):
        result = await rule(user, **params)
    else:
        result = await sync_to_async(rule)(user, **params)
        if inspect.isawaitable(result):
            result = await result
    return bool(result)


async def check_access(user: Any, name: str) -> bool:
    """True if ``user`` may read ``name``. Raises ChannelNotFound for a missing thing."""
    found = find_pattern(name)
    if found is None:
        return False
    pattern, params = found
    return await _call_rule(pattern.rule, user, params)
