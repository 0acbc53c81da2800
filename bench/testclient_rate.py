"""Requests per second of views through Django's test client, in this one process.

``python -m bench.testclient_rate --seconds 5`` with the project's interpreter and
the bench's settings and database: the same three requests ``make bench`` sends
over ``python -m sse.daphne`` (as the seeded admin, CSRF checked), so the two
rates say what the ASGI path costs on top of the view. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

REQUESTS = {
    "GET /api/notifications/": ("get", "/api/notifications/", None),
    "POST /api/sse/publish/": (
        "post",
        "/api/sse/publish/",
        {"channel": "broadcast", "event": "bench", "data": {"ordinary": 1}},
    ),
    "GET /notifications/": ("get", "/notifications/", None),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--user", default="admin")
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.middleware.csrf import _get_new_csrf_string
    from django.test import Client

    client = Client(enforce_csrf_checks=True, HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model()._default_manager.get(username=args.user))
    csrf = _get_new_csrf_string()
    client.cookies["csrftoken"] = csrf
    out = {}
    for name, (method, path, body) in REQUESTS.items():
        call = getattr(client, method)
        kwargs = {"HTTP_X_CSRFTOKEN": csrf}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        first = call(path, **kwargs)
        if first.status_code >= 300:
            # A rate of refusals would compare nothing: stop with what the view said.
            raise SystemExit(f"{name} answered {first.status_code}: {first.content[:300]!r}")
        statuses: dict[int, int] = {}
        done = 0
        started = time.perf_counter()
        while time.perf_counter() - started < args.seconds:
            status = call(path, **kwargs).status_code
            statuses[status] = statuses.get(status, 0) + 1
            done += 1
        elapsed = time.perf_counter() - started
        out[name] = {"requests": done, "seconds": elapsed, "per_second": done / elapsed, "statuses": statuses}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
