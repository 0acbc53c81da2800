"""Streaming tests run outside a test transaction: finding one, and naming the fix for the runner."""

from __future__ import annotations

import os
import unittest
from types import FrameType

__all__ = ["calling_test_case", "refuse_test_transactions", "the_rule"]

_PYTEST = (
    "mark the test @pytest.mark.django_db(transaction=True)",
    "marked @pytest.mark.django_db(transaction=True)",
)
_UNITTEST = (
    "make {name} a django.test.TransactionTestCase",
    "methods of a django.test.TransactionTestCase, not of a TestCase",
)


def calling_test_case(frame: FrameType | None) -> unittest.TestCase | None:
    """The unittest test case whose method (a coroutine) called us, if one did."""
    while frame is not None:
        found = frame.f_locals.get("self")
        if isinstance(found, unittest.TestCase):
            return found
        frame = frame.f_back
    return None


def _the_fix(test_case: unittest.TestCase | None) -> str:
    """What makes a streaming test see its events, in the terms of the runner in use."""
    if test_case is not None:
        return _UNITTEST[0].format(name=type(test_case).__name__)
    if "PYTEST_CURRENT_TEST" in os.environ:
        return _PYTEST[0]
    # Neither a test case's method nor pytest: say both.
    return f"{_PYTEST[0]} (pytest-django), or {_UNITTEST[0].format(name='the test case')} (manage.py test)"


def the_rule(test_case: unittest.TestCase | None) -> str:
    """The same, as a rule: true whether or not the test follows it."""
    if test_case is not None:
        return f"streaming tests are {_UNITTEST[1]}"
    if "PYTEST_CURRENT_TEST" in os.environ:
        return f"streaming tests are {_PYTEST[1]}"
    return f"streaming tests are {_PYTEST[1]} (pytest-django), or {_UNITTEST[1]} (manage.py test)"


def _testcase_transactions() -> list[str]:
    """The databases on which this thread is inside a test case's transaction (django.test.TestCase's,
    which pytest-django's plain ``django_db`` mark uses too)."""
    from django.db import connections
    from django.db.backends.base.base import BaseDatabaseWrapper

    found = list(connections.all(initialized_only=True))
    # With an event loop running on this thread (pytest-asyncio runs the test's there), asgiref
    # gives the coroutine connections of its own: the test's transaction is on the ones this
    # thread's sync code has, in the thread-local storage beside them (asgiref >= 3.8).
    try:
        storage = object.__getattribute__(connections._connections, "_storage")  # type: ignore[attr-defined]
        found += [c for c in vars(storage).values() if isinstance(c, BaseDatabaseWrapper)]
    except (AttributeError, TypeError):
        pass
    return sorted(
        {
            connection.alias
            for connection in found
            if any(getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)
        }
    )


async def refuse_test_transactions(test_case: unittest.TestCase | None) -> None:
    from asgiref.sync import sync_to_async

    # The test's thread: this one under pytest-asyncio (the loop runs on the test's thread);
    # the one sync_to_async() goes back to under django.test's async_to_sync().
    inside = _testcase_transactions() or await sync_to_async(_testcase_transactions)()
    if not inside:
        return
    if test_case is not None:
        wrapper = f"django.test.TestCase (a base of {type(test_case).__name__})"
    elif "PYTEST_CURRENT_TEST" in os.environ:
        wrapper = "@pytest.mark.django_db"
    else:
        wrapper = "a django.test.TestCase"
    raise RuntimeError(
        f"sse.testing.connect() was called inside the transaction that {wrapper} wraps around "
        f"the test and rolls back at its end (database {', '.join(map(repr, inside))}). Nothing "
        "published in it goes out (sse.publish() sends when the transaction commits), and the "
        "hub reads the event log on threads of its own, whose connections do not see it (SQLite: "
        f"'database table is locked'). To test streams, {_the_fix(test_case)} "
        "(docs/testing.md)."
    )
