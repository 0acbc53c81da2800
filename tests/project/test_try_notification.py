"""The home page's "send me a notification" (POST /try/notification/) is rate-limited per user.

Over the demo under Daphne: thirty requests of one user at once get exactly
TRY_NOTIFICATION_LIMIT (5) notifications stored and sent; every other answer is a 429 with a
readable message and Retry-After, JSON for a JSON request and text for the plain form post.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.project.conftest import login
from tests.servers import DaphneServer, manage

LIMIT = 5  # project.settings' TRY_NOTIFICATION_LIMIT
TRY_TITLE = "Hello from the home page"


def _new_user(site: DaphneServer) -> str:
    """A user of this test alone: no earlier test notification counts against the limit."""
    name = "trier-" + uuid.uuid4().hex[:8]
    manage(
        site.env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user({name!r}, password='demo')",
    )
    return name


def test_thirty_racing_requests_send_five_and_the_rest_get_429(site: DaphneServer) -> None:
    client = login(site.url, _new_user(site))
    cookies, headers = dict(client.cookies), httpx.Headers(client.headers)
    headers["Accept"] = "application/json"

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=site.url, cookies=cookies, headers=headers, timeout=60) as one:
            return one.post("/try/notification/")

    with ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(post, range(30)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * LIMIT + [429] * (30 - LIMIT), statuses
    refused = [a for a in answers if a.status_code == 429]
    assert all(a.json()["detail"].startswith(f"You sent yourself {LIMIT} in the last") for a in refused)
    assert all(1 <= int(a.headers["Retry-After"]) <= 60 for a in refused)

    listed = client.get("/api/notifications/")
    assert listed.status_code == 200
    assert [n["title"] for n in listed.json()["results"]].count(TRY_TITLE) == LIMIT

    # The form post (no JSON asked) is refused in plain text.
    form = client.post("/try/notification/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert form.status_code == 429
    assert form.headers["Content-Type"].startswith("text/plain")
    assert form.text.startswith(f"You sent yourself {LIMIT} in the last")
    client.close()
