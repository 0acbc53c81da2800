"""The admin: the user action "Send notification" with its intermediate form,
and a broadcast added through the admin form reaching open streams (its audience only)."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.notifications.helpers import open_events, pk_of
from tests.servers import DaphneServer


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, "no CSRF token in the form"
    return match.group(1)


def test_send_notification_action_goes_through_an_intermediate_form(
    site: DaphneServer, admin: httpx.Client, alice: httpx.Client
) -> None:
    alice_pk = pk_of(site.env, "alice")
    changelist = admin.get("/admin/auth/user/")
    assert changelist.status_code == 200 and "Send notification" in changelist.text
    token = csrf_of(changelist)
    intermediate = admin.post(
        "/admin/auth/user/",
        data={"csrfmiddlewaretoken": token, "action": "send_notification", "_selected_action": [alice_pk]},
    )
    assert intermediate.status_code == 200
    assert 'name="apply"' in intermediate.text and "<strong>alice</strong>" in intermediate.text

    # An invalid form comes back with its errors; nothing is sent.
    invalid = admin.post(
        "/admin/auth/user/",
        data={
            "csrfmiddlewaretoken": csrf_of(intermediate),
            "action": "send_notification",
            "_selected_action": [alice_pk],
            "apply": "Send",
            "title": "",
            "level": "info",
        },
    )
    assert invalid.status_code == 200 and "This field is required" in invalid.text

    title = f"from-admin-{uuid.uuid4().hex[:6]}"
    with open_events(alice, "/notifications/stream/") as events:
        sent = admin.post(
            "/admin/auth/user/",
            data={
                "csrfmiddlewaretoken": csrf_of(intermediate),
                "action": "send_notification",
                "_selected_action": [alice_pk],
                "apply": "Send",
                "title": title,
                "body": "hello from the admin",
                "level": "success",
                "url": "",
            },
        )
        assert sent.status_code == 302
        event, _ = events.until(lambda e: e["event"] == "notification")
        assert event["data"]["title"] == title and event["data"]["level"] == "success"
    followed = admin.get(sent.headers["location"])
    assert "Sent “" + title + "” to 1 user." in followed.text


def test_non_staff_cannot_reach_the_admin(alice: httpx.Client) -> None:
    answer = alice.get("/admin/notifications/broadcast/add/")
    assert answer.status_code == 302 and "/admin/login/" in answer.headers["location"]


def test_broadcast_to_chosen_users_reaches_only_them(
    site: DaphneServer, admin: httpx.Client, alice: httpx.Client, bob: httpx.Client
) -> None:
    bob_pk = pk_of(site.env, "bob")
    add = admin.get("/admin/notifications/broadcast/add/")
    title = f"for-bob-{uuid.uuid4().hex[:6]}"
    with (
        open_events(alice, "/notifications/stream/") as alice_events,
        open_events(bob, "/notifications/stream/") as bob_events,
    ):
        saved = admin.post(
            "/admin/notifications/broadcast/add/",
            data={
                "csrfmiddlewaretoken": csrf_of(add),
                "title": title,
                "body": "",
                "level": "info",
                "audience": "users",
                "users": [bob_pk],
                "expires_at_0": "",
                "expires_at_1": "",
                "_save": "Save",
            },
        )
        assert saved.status_code == 302, saved.text[:2000]
        event, _ = bob_events.until(lambda e: e["event"] == "broadcast" and e["data"]["title"] == title)
        assert set(event["data"]) == {"id", "title", "body", "level"}
        # Alice: a later event on her own channel comes; the broadcast never came before it.
        admin.post("/api/notifications/", json={"user": "alice", "title": "marker-" + title})
        _, before = alice_events.until(lambda e: e["event"] == "notification")
        assert not [e for e in before if e["event"] == "broadcast" and e["data"]["title"] == title]
    # The change list shows when it went out and how many open streams it reached (bob's one).
    changelist = admin.get("/admin/notifications/broadcast/")
    pattern = r"<tr>(?:(?!</tr>).)*" + re.escape(title) + r"(?:(?!</tr>).)*</tr>"
    row = re.search(pattern, changelist.text, re.S)
    assert row, "broadcast missing from the change list"
    assert re.search(r'class="field-streams_reached">1<', row.group(0))
    assert not re.search(r'class="field-sent_at">-<', row.group(0))
    change = re.search(r'href="(/admin/notifications/broadcast/\d+/change/)"', row.group(0))
    assert change and admin.get(change.group(1)).status_code == 200
    # Users audience without users is a form error, not a 500.
    refused = admin.post(
        "/admin/notifications/broadcast/add/",
        data={"csrfmiddlewaretoken": csrf_of(add), "title": "x", "level": "info", "audience": "users"},
    )
    assert refused.status_code == 200 and "choose at least one user" in refused.text
