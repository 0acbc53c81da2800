"""Tests of the ``sse`` app alone: run ``pytest tests/sse`` (tests/sse/pytest.ini picks the settings)."""
