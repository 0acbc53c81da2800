"""What the admin tells whoever uses it: the streams a broadcast reached, audience-dependent
fields, a change list that fits, a pluralised "Send notification", a user picker and
read-only timestamps on notifications."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from notifications.models import Broadcast, Notification
from tests.notifications.helpers import open_events, pk_of
from tests.servers import DaphneServer

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit: broadcasts go out on commit

User = get_user_model()


@pytest.fixture
def staff(client: Client) -> Client:
    admin = User.objects.create_superuser("root", password="pw")
    client.force_login(admin)
    return client


def add_broadcast(client: Client, **fields: Any) -> Any:
    data = {"title": "t", "body": "", "level": "info", "audience": "everyone", "_save": "Save"}
    data.update({"expires_at_0": "", "expires_at_1": ""})
    data.update(fields)
    return client.post("/admin/notifications/broadcast/add/", data, follow=True)


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_adding_a_broadcast_says_how_many_open_streams_it_reached(staff: Client) -> None:
    answer = add_broadcast(staff, title="hello all")
    assert answer.status_code == 200
    said = messages_of(answer)
    # No server runs streams in this process: it reached none, and says so in words.
    assert "“hello all” went out to 0 open streams now (its audience: everyone signed in)." in said


def test_the_count_names_the_users_of_a_targeted_audience(staff: Client) -> None:
    alice = User.objects.create_user("alice2", password="pw")
    answer = add_broadcast(staff, title="to one", audience="users", users=[alice.pk])
    assert "“to one” went out to 0 open streams now (its audience: 1 user)." in messages_of(answer)


def test_fields_of_another_audience_are_not_kept(staff: Client) -> None:
    group = Group.objects.create(name="ops")
    alice = User.objects.create_user("alice3", password="pw")
    # Left over in fields the page hid: the audience is everyone, so neither is stored.
    add_broadcast(staff, title="leftovers", group=group.pk, users=[alice.pk])
    broadcast = Broadcast.objects.get(title="leftovers")
    assert broadcast.group is None
    assert list(broadcast.users.all()) == []
    # And each audience still asks for what it needs.
    refused = add_broadcast(staff, title="no group", audience="group")
    assert b"choose the group this broadcast goes to" in refused.content
    assert not Broadcast.objects.filter(title="no group").exists()


def test_the_add_form_hides_fields_by_audience(staff: Client) -> None:
    page = staff.get("/admin/notifications/broadcast/add/").content.decode()
    assert 'document.getElementById("id_audience")' in page
    assert ".form-row.field-group" in page and ".form-row.field-users" in page


def test_change_list_columns(staff: Client) -> None:
    alice = User.objects.create_user("alice4", password="pw")
    add_broadcast(staff, title="listed", audience="users", users=[alice.pk])
    page = staff.get("/admin/notifications/broadcast/").content.decode()
    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', page)
    assert headers == ["title", "level", "audience_shown", "sent_at", "streams_reached", "expires_at"]
    # The recipients count goes with the audience.
    assert re.search(r'class="field-audience_shown">Chosen users \(1 user\)<', page)


def test_send_notification_counts_users_in_words(staff: Client) -> None:
    users = [User.objects.create_user(f"u{n}", password="pw") for n in range(2)]
    form = {"action": "send_notification", "apply": "Send", "title": "hi", "level": "info"}
    one = staff.post("/admin/auth/user/", {**form, "_selected_action": [users[0].pk]}, follow=True)
    assert "Sent “hi” to 1 user." in messages_of(one)
    two = staff.post("/admin/auth/user/", {**form, "_selected_action": [u.pk for u in users]}, follow=True)
    assert "Sent “hi” to 2 users." in messages_of(two)
    # The intermediate form: the admin's aligned rows, required labels marked.
    page = staff.post(
        "/admin/auth/user/", {"action": "send_notification", "_selected_action": [users[0].pk]}
    ).content.decode()
    assert "To 1 user:" in page
    assert '<div class="form-row field-title">' in page
    assert '<label for="id_title" class="required">' in page


def test_notification_form_picks_users_and_keeps_timestamps_read_only(staff: Client) -> None:
    page = staff.get("/admin/notifications/notification/add/").content.decode()
    # A searchable picker (autocomplete), not a raw id box.
    assert "admin-autocomplete" in page and "vForeignKeyRawIdAdminField" not in page
    assert 'name="created"' not in page and 'name="read_at"' not in page
    user = User.objects.create_user("target", password="pw")
    note = Notification.objects.create(recipient=user, title="x")
    change = staff.get(f"/admin/notifications/notification/{note.pk}/change/").content.decode()
    assert 'name="created"' not in change and 'name="read_at"' not in change
    assert 'class="form-row field-created"' in change  # shown, read-only


# -- over a real server: a stream that is open is counted ---------------------------


def test_broadcast_message_counts_bobs_open_stream(
    site: DaphneServer, admin: httpx.Client, bob: httpx.Client
) -> None:
    bob_pk = pk_of(site.env, "bob")
    add = admin.get("/admin/notifications/broadcast/add/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', add.text)
    assert token
    title = f"reach-{uuid.uuid4().hex[:6]}"
    # Bound to a name: a reader dropped at once would close bob's stream with it.
    with open_events(bob, "/notifications/stream/") as events:
        saved = admin.post(
            "/admin/notifications/broadcast/add/",
            data={
                "csrfmiddlewaretoken": token.group(1),
                "title": title,
                "level": "info",
                "audience": "users",
                "users": [bob_pk],
                "expires_at_0": "",
                "expires_at_1": "",
                "_save": "Save",
            },
        )
        assert saved.status_code == 302
        followed = admin.get(saved.headers["location"])
        events.until(lambda e: e["event"] == "broadcast" and e["data"]["title"] == title)
    assert f"“{title}” went out to 1 open stream now (its audience: 1 user)." in followed.text
