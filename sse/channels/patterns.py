"""Channel patterns and the registry that holds them, in match order (sorted once, when one is added)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sse.channels.throttle import (
    THROTTLE_MODES,
    ConflationKey,
    ThrottleMode,
    conflation_key,
    parse_rate,
)

__all__ = [
    "CHANNEL_NAME",
    "AccessRule",
    "ChannelPattern",
    "ChannelRegistry",
    "make_pattern",
    "validate_channel_name",
]

CHANNEL_NAME = re.compile(r"[A-Za-z0-9._-]{1,80}")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

# rule(user, **placeholders) -> bool; may be sync or async; may raise ChannelNotFound.
AccessRule = Callable[..., bool | Awaitable[bool]]


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
    #: At most this many events per second reach a stream (None: every event).
    max_rate: float | None = None
    throttle: ThrottleMode = "both"
    #: Events with equal keys replace each other within a window (None: one key).
    conflation_key: ConflationKey | None = None
    #: The lowest rate a stream may ask for with ``?max_rate=`` (None: any).
    min_rate: float | None = None

    def match(self, name: str) -> dict[str, str] | None:
        m = self.regex.fullmatch(name)
        return m.groupdict() if m else None


def _compile(pattern: str) -> re.Pattern[str]:
    regex = ""
    pos = 0
    for m in _PLACEHOLDER.finditer(pattern):
        regex += re.escape(pattern[pos : m.start()]) + f"(?P<{m.group(1)}>[A-Za-z0-9_-]+)"
        pos = m.end()
    regex += re.escape(pattern[pos:])
    return re.compile(regex)


def _rates(
    pattern: str, max_rate: float | None, throttle: ThrottleMode, conflate_by: object, min_rate: float | None
) -> tuple[float | None, float | None]:
    """``max_rate`` and ``min_rate`` checked and parsed; errors name ``pattern``."""
    if max_rate is None:
        if conflate_by is not None or min_rate is not None or throttle != "both":
            raise TypeError(f"channel {pattern!r}: throttle, conflate_by and min_rate need a max_rate")
        return None, None
    max_rate = parse_rate(max_rate, f"channel {pattern!r}: max_rate")
    if throttle not in THROTTLE_MODES:
        raise ValueError(f"channel {pattern!r}: throttle must be one of {', '.join(THROTTLE_MODES)}")
    if min_rate is not None:
        min_rate = parse_rate(min_rate, f"channel {pattern!r}: min_rate")
        if min_rate > max_rate:
            raise ValueError(f"channel {pattern!r}: min_rate {min_rate:g} is above max_rate {max_rate:g}")
    return max_rate, min_rate


def make_pattern(
    pattern: str,
    rule: AccessRule,
    *,
    ephemeral: bool = False,
    max_rate: float | None = None,
    throttle: ThrottleMode = "both",
    conflate_by: str | ConflationKey | None = None,
    min_rate: float | None = None,
) -> ChannelPattern:
    """A checked :class:`ChannelPattern` (the arguments of ``sse.register_channel``)."""
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("pattern must be a non-empty string")
    validate_channel_name(_PLACEHOLDER.sub("x", pattern))
    if not callable(rule):
        raise TypeError("rule must be callable: rule(user, **placeholders) -> bool")
    max_rate, min_rate = _rates(pattern, max_rate, throttle, conflate_by, min_rate)
    return ChannelPattern(
        pattern, rule, _compile(pattern), ephemeral, max_rate, throttle, conflation_key(conflate_by), min_rate
    )


def _match_order(pattern: ChannelPattern) -> tuple[bool, int]:
    # Literal patterns win over placeholder ones; then the longest pattern.
    return "{" in pattern.pattern, -len(pattern.pattern)


class ChannelRegistry:
    """The channel patterns of a process (its runtime's), in match order."""

    def __init__(self) -> None:
        self._patterns: dict[str, ChannelPattern] = {}
        # Sorted when a pattern is added or removed, not on every look-up (one per publish).
        self._ordered: tuple[ChannelPattern, ...] = ()

    def add(self, pattern: ChannelPattern) -> None:
        self._patterns[pattern.pattern] = pattern
        self._reorder()

    def remove(self, pattern: str) -> None:
        if self._patterns.pop(pattern, None) is not None:
            self._reorder()

    def _reorder(self) -> None:
        # A stable sort of the registration order: ties match as they did before.
        self._ordered = tuple(sorted(self._patterns.values(), key=_match_order))

    def __len__(self) -> int:
        return len(self._patterns)

    def names(self) -> tuple[str, ...]:
        """Every registered pattern, sorted."""
        return tuple(sorted(self._patterns))

    def find(self, name: str) -> tuple[ChannelPattern, dict[str, str]] | None:
        for pattern in self._ordered:
            params = pattern.match(name)
            if params is not None:
                return pattern, params
        return None
