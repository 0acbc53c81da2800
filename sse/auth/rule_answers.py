"""Channel rules re-run for open streams: once per (user, channel), off the loop."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.db import connections

from sse.channels.registry import ChannelNotFound, find_pattern

__all__ = ["rule_answers"]

logger = logging.getLogger("sse.hub")


def _run_sync_rules(pairs: Sequence[tuple[Any, str, Any, dict[str, str]]]) -> dict[tuple[str, str], bool]:
    """Sync rules, all in one worker thread; a rule that fails gives no answer."""
    answers: dict[tuple[str, str], bool] = {}
    try:
        for user, name, rule, params in pairs:
            try:
                result = rule(user, **params)
                if inspect.isawaitable(result):
                    result = async_to_sync(_await)(result)
                answers[(str(user.pk), name)] = bool(result)
            except ChannelNotFound:
                answers[(str(user.pk), name)] = False
            except Exception as exc:
                logger.warning("re-checking access to %s failed: %s", name, exc)
    finally:
        connections.close_all()
    return answers


async def _await(result: Any) -> Any:
    return await result


async def rule_answers(
    wanted: Iterable[tuple[str, str]], users: dict[str, Any]
) -> dict[tuple[str, str], bool]:
    """Whether each (user pk, channel) of ``wanted`` still passes the channel's rule (``users``:
    the users by pk). Async rules here, the sync ones all in one worker thread; a rule that
    fails gives no answer, one that raises ChannelNotFound (or no rule, no user) says no."""
    sync_pairs = []
    answers: dict[tuple[str, str], bool] = {}
    for user_pk, name in wanted:
        user = users.get(user_pk)
        found = find_pattern(name)
        if user is None or found is None:
            answers[(user_pk, name)] = False
            continue
        pattern, params = found
        if not inspect.iscoroutinefunction(pattern.rule):
            sync_pairs.append((user, name, pattern.rule, params))
            continue
        try:
            answers[(user_pk, name)] = bool(await pattern.rule(user, **params))
        except ChannelNotFound:
            answers[(user_pk, name)] = False
        except Exception as exc:
            logger.warning("re-checking access to %s failed: %s", name, exc)
    if sync_pairs:
        answers.update(await sync_to_async(_run_sync_rules, thread_sensitive=False)(sync_pairs))
    return answers
