"""Which channels exist and who may read them. A channel with no rule is unreadable."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async

from sse.channels.throttle import (
    THROTTLE_MODES,
    ConflationKey,
    ThrottleMode,
    conflation_key,
    parse_rate,
)

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


_patterns: dict[str, ChannelPattern] = {}


def _compile(pattern: str) -> re.Pattern[str]:
    regex = ""
    pos = 0
    for m in _PLACEHOLDER.finditer(pattern):
        regex += re.escape(pattern[pos : m.start()]) + f"(?P<{m.group(1)}>[A-Za-z0-9_-]+)"
        pos = m.end()
    regex += re.escape(pattern[pos:])
    return re.compile(regex)


def register_channel(
    pattern: str,
    rule: AccessRule,
    *,
    ephemeral: bool = False,
    max_rate: float | None = None,
    throttle: ThrottleMode = "both",
    conflate_by: str | ConflationKey | None = None,
    min_rate: float | None = None,
) -> None:
    """Make channels matching ``pattern`` readable by users ``rule`` allows.

    ``pattern`` is a channel name with ``{placeholders}`` (one name segment
    each, no dots); ``rule(user, **placeholders)`` returns True to allow.
    ``ephemeral`` channels keep only their latest event (no replay history).

    ``max_rate``: at most this many events per second reach each stream; events in
    between are conflated (the latest wins, per ``conflate_by`` key: a JSON field name
    or ``key(event, data)``). ``throttle``: ``"both"`` (default: the first event of a
    quiet spell at once, the latest of a burst at the end of each window), ``"trailing"``
    or ``"leading"`` (drops the rest of each window). ``min_rate``: the lowest rate a
    stream may ask for with ``?max_rate=`` (lower asks are raised to it).
    """
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("pattern must be a non-empty string")
    example = _PLACEHOLDER.sub("x", pattern)
    validate_channel_name(example)
    if not callable(rule):
        raise TypeError("rule must be callable: rule(user, **placeholders) -> bool")
    if max_rate is None:
        if conflate_by is not None or min_rate is not None or throttle != "both":
            raise TypeError(f"channel {pattern!r}: throttle, conflate_by and min_rate need a max_rate")
    else:
        max_rate = parse_rate(max_rate, f"channel {pattern!r}: max_rate")
        if throttle not in THROTTLE_MODES:
            raise ValueError(f"channel {pattern!r}: throttle must be one of {', '.join(THROTTLE_MODES)}")
        if min_rate is not None:
            min_rate = parse_rate(min_rate, f"channel {pattern!r}: min_rate")
            if min_rate > max_rate:
                raise ValueError(f"channel {pattern!r}: min_rate {min_rate:g} is above max_rate {max_rate:g}")
    _patterns[pattern] = ChannelPattern(
        pattern,
        rule,
        _compile(pattern),
        ephemeral,
        max_rate,
        throttle,
        conflation_key(conflate_by),
        min_rate,
    )


def channel(
    pattern: str,
    *,
    ephemeral: bool = False,
    max_rate: float | None = None,
    throttle: ThrottleMode = "both",
    conflate_by: str | ConflationKey | None = None,
    min_rate: float | None = None,
) -> Callable[[AccessRule], AccessRule]:
    """Decorator form of :func:`register_channel`."""

    def decorator(rule: AccessRule) -> AccessRule:
        register_channel(
            pattern,
            rule,
            ephemeral=ephemeral,
            max_rate=max_rate,
            throttle=throttle,
            conflate_by=conflate_by,
            min_rate=min_rate,
        )
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


def throttled_pattern(name: str) -> ChannelPattern | None:
    """The pattern of ``name`` when it declares a ``max_rate``."""
    found = find_pattern(name)
    return found[0] if found is not None and found[0].max_rate is not None else None


async def _call_rule(rule: AccessRule, user: Any, params: dict[str, str]) -> bool:
    if inspect.iscoroutinefunction(rule):
        result = await rule(user, **params)
    else:
        result = await sync_to_async(rule)(user, **params)
        if inspect.isawaitable(result):
            result = await result
    return bool(result)


async def check_access_all(user: Any, names: Sequence[str]) -> list[bool | Exception]:
    """For each of ``names``: whether ``user`` may read it, or what its rule raised.

    A name no pattern matches is False. Async rules are awaited here; the sync rules of
    all the names run one after another in a single ``sync_to_async`` call, so a stream
    of several channels pays one thread hop, not one per channel.
    """
    outcomes: list[bool | Exception] = [False] * len(names)
    sync_rules: list[tuple[int, AccessRule, dict[str, str]]] = []
    for index, name in enumerate(names):
        found = find_pattern(name)
        if found is None:
            continue
        pattern, params = found
        if inspect.iscoroutinefunction(pattern.rule):
            try:
                outcomes[index] = bool(await pattern.rule(user, **params))
            except Exception as exc:
                outcomes[index] = exc
        else:
            sync_rules.append((index, pattern.rule, params))
    if sync_rules:

        def run_sync_rules() -> list[tuple[int, Any]]:
            results: list[tuple[int, Any]] = []
            for index, rule, params in sync_rules:
                try:
                    results.append((index, rule(user, **params)))
                except Exception as exc:
                    results.append((index, exc))
            return results

        for index, result in await sync_to_async(run_sync_rules)():
            if inspect.isawaitable(result):  # a sync callable that returned a coroutine
                try:
                    result = await result
                except Exception as exc:
                    result = exc
            outcomes[index] = result if isinstance(result, Exception) else bool(result)
    return outcomes


async def check_access(user: Any, name: str) -> bool:
    """True if ``user`` may read ``name``. Raises ChannelNotFound for a missing thing."""
    found = find_pattern(name)
    if found is None:
        return False
    pattern, params = found
    return await _call_rule(pattern.rule, user, params)
