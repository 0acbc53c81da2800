"""A standalone project with only the ``sse`` app (plus auth, sessions, DRF, Daphne).

``DJANGO_SETTINGS_MODULE=tests.sse_app.settings``; ``python -m django migrate`` and
``python -m django sse_app_users`` prepare its SQLite file (``SSE_APP_DB``), and
``python -m sse.daphne tests.sse_app.asgi:application`` serves it. tests/sse runs
against it, so the app's tests pass without the demo project's apps.
"""
