"""Which channels exist and who may read them. A channel with no rule is unreadable.

The patterns live in the process's runtime (``sse.runtime``); these functions are their public face.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.apps import apps

from sse import runtime
from sse.channels.patterns import (
    CHANNEL_NAME,
    AccessRule,
    ChannelPattern,
    ChannelRegistry,
    make_pattern,
    validate_channel_name,
)
from sse.channels.throttle import ConflationKey, ThrottleMode

__all__ = [
    "CHANNEL_NAME",
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


class ChannelNotFound(Exception):
    """Raised by an access rule when the thing a channel names does not exist."""


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
    checked = make_pattern(
        pattern,
        rule,
        ephemeral=ephemeral,
        max_rate=max_rate,
        throttle=throttle,
        conflate_by=conflate_by,
        min_rate=min_rate,
    )
    if not apps.is_installed("sse"):
        # No runtime to keep it, and nothing could serve it: sse.urls and sse.models name
        # the fix when imported (sse.installed.require_installed).
        return
    runtime.get().part(ChannelRegistry).add(checked)


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
    runtime.get().part(ChannelRegistry).remove(pattern)


def registered_patterns() -> tuple[str, ...]:
    """Every registered channel pattern, sorted (empty until some ``ready()`` registers one)."""
    return runtime.get().part(ChannelRegistry).names()


def find_pattern(name: str) -> tuple[ChannelPattern, dict[str, str]] | None:
    return runtime.get().part(ChannelRegistry).find(name)


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


_SyncRule = tuple[int, AccessRule, dict[str, str]]


def _run_sync_rules(user: Any, sync_rules: list[_SyncRule]) -> list[tuple[int, Any]]:
    """Sync: each rule's answer, or what it raised, by the index of its name."""
    results: list[tuple[int, Any]] = []
    for index, rule, params in sync_rules:
        try:
            results.append((index, rule(user, **params)))
        except Exception as exc:
            results.append((index, exc))
    return results


async def check_access_all(user: Any, names: Sequence[str]) -> list[bool | Exception]:
    """For each of ``names``: whether ``user`` may read it, or what its rule raised.

    A name no pattern matches is False. Async rules are awaited here; the sync rules of
    all the names run one after another in a single ``sync_to_async`` call, so a stream
    of several channels pays one thread hop, not one per channel.
    """
    outcomes: list[bool | Exception] = [False] * len(names)
    sync_rules: list[_SyncRule] = []
    find = runtime.get().part(ChannelRegistry).find
    for index, name in enumerate(names):
        found = find(name)
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
        for index, result in await sync_to_async(_run_sync_rules)(user, sync_rules):
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
