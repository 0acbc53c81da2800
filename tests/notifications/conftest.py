"""Fixtures for the notifications app: the shared project site and signed-in clients."""

from __future__ import annotations

# The session-wide Daphne site and signed-in clients of the project tests.
from tests.project.conftest import admin, alice, bob, site  # noqa: F401
