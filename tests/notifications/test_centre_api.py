"""Broadcasts in the notifications API, their per-user dismissal and the default expiry
(Django's test client: no server needed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.template import Context, Template
from django.test import Client, override_settings
from django.utils import timezone

from notifications.models import Audience, Broadcast, BroadcastDismissal, Notification

pytestmark = pytest.mark.django_db


def user(name: str, **extra: Any) -> Any:
    return get_user_model().objects.create_user(name, password="pw", **extra)


def sent(title: str, **fields: Any) -> Broadcast:
    """A broadcast that went out just now (the sending itself is tested with a real server)."""
    users = fields.pop("users", [])
    broadcast = Broadcast.objects.create(title=title, sent_at=timezone.now(), **fields)
    broadcast.users.set(users)
    return broadcast


def client_of(someone: Any, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(someone)
    return client


def test_list_carries_the_users_broadcasts_beside_the_results() -> None:
    alice, bob = user("alice"), user("bob")
    Notification.objects.create(recipient=alice, title="own")
    everyone = sent("for everyone")
    for_bob = sent("for bob", audience=Audience.USERS, users=[bob])
    Broadcast.objects.create(title="never sent")

    page = client_of(alice).get("/api/notifications/").json()
    # The existing shape stays; rows say what they are.
    assert {"count", "next", "previous", "results", "unread"} <= set(page)
    assert page["count"] == 1 and page["results"][0]["kind"] == "notification"
    assert [b["id"] for b in page["broadcasts"]] == [everyone.pk]
    row = page["broadcasts"][0]
    assert row["kind"] == "broadcast" and row["title"] == "for everyone"
    assert row["active"] is True and row["dismissed"] is False and row["expires_at"]

    bobs = client_of(bob).get("/api/notifications/broadcasts/").json()
    assert [b["id"] for b in bobs["results"]] == [for_bob.pk, everyone.pk]


def test_dismiss_is_stored_per_user_and_hides_the_banner() -> None:
    alice, bob = user("alice"), user("bob")
    broadcast = sent("maintenance")
    banners = Template("{% load notifications_tags %}{% broadcast_banners %}")

    def banner_shown(someone: Any) -> bool:
        return "maintenance" in banners.render(Context({"user": someone}))

    assert banner_shown(alice) and banner_shown(bob)
    answer = client_of(alice).post(f"/api/notifications/broadcasts/{broadcast.pk}/dismiss/")
    assert answer.status_code == 200
    assert answer.json() == {"id": broadcast.pk, "dismissed": True}
    # Twice is fine (two tabs), and stored once.
    assert client_of(alice).post(f"/api/notifications/broadcasts/{broadcast.pk}/dismiss/").status_code == 200
    assert BroadcastDismissal.objects.filter(user=alice, broadcast=broadcast).count() == 1

    assert not banner_shown(alice)
    assert banner_shown(bob)
    rows = client_of(alice).get("/api/notifications/broadcasts/").json()["results"]
    assert rows[0]["id"] == broadcast.pk and rows[0]["dismissed"] is True


def test_banners_show_one_with_a_count_of_the_rest() -> None:
    alice = user("alice")
    for i in range(4):
        sent(f"notice {i}")
    html = Template("{% load notifications_tags %}{% broadcast_banners %}").render(Context({"user": alice}))
    assert html.count('class="banner ') == 4
    assert html.count(" hidden>") == 3  # one compact bar; the other three wait behind the button
    assert ">3 more</button>" in html
    assert 'aria-label="Dismiss broadcast: notice 3"' in html
    assert html.count("data-expires=") == 4  # the page drops each when it expires


def test_dismiss_refusals() -> None:
    alice, bob = user("alice"), user("bob")
    for_bob = sent("for bob", audience=Audience.USERS, users=[bob])
    staff_only = sent("for staff", audience=Audience.STAFF)
    everyone = sent("for everyone")

    def dismiss(client: Client, pk: int) -> Any:
        return client.post(f"/api/notifications/broadcasts/{pk}/dismiss/")

    # Unknown, or someone else's audience: the same 404, with a readable message.
    missing = dismiss(client_of(alice), 987654)
    assert missing.status_code == 404 and missing.json() == {"detail": "no such broadcast"}
    assert dismiss(client_of(alice), for_bob.pk).status_code == 404
    assert dismiss(client_of(alice), staff_only.pk).status_code == 404
    # Signed out.
    assert dismiss(Client(), everyone.pk).status_code in (401, 403)
    # A session without the CSRF token.
    no_csrf = dismiss(client_of(alice, csrf=True), everyone.pk)
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["detail"]
    assert not BroadcastDismissal.objects.exists()
    # GET is not a way to dismiss.
    assert client_of(alice).get(f"/api/notifications/broadcasts/{everyone.pk}/dismiss/").status_code == 405


def test_broadcasts_sent_before_the_user_joined_are_not_theirs() -> None:
    old = sent("before alice")
    Broadcast.objects.filter(pk=old.pk).update(sent_at=timezone.now() - timedelta(days=2))
    alice = user("alice")
    assert client_of(alice).get("/api/notifications/broadcasts/").json()["results"] == []
    assert client_of(alice).post(f"/api/notifications/broadcasts/{old.pk}/dismiss/").status_code == 404


def test_default_expiry() -> None:
    broadcast = Broadcast.objects.create(title="no expiry given")
    assert broadcast.expires_at == broadcast.created + timedelta(hours=24)
    chosen = timezone.now() + timedelta(hours=2)
    assert Broadcast.objects.create(title="chosen", expires_at=chosen).expires_at == chosen
    with override_settings(NOTIFICATIONS_BROADCAST_TTL=90):
        short = Broadcast.objects.create(title="short")
        assert short.expires_at == short.created + timedelta(seconds=90)
    with override_settings(NOTIFICATIONS_BROADCAST_TTL=timedelta(hours=1)):
        hour = Broadcast.objects.create(title="an hour")
        assert hour.expires_at == hour.created + timedelta(hours=1)
    with override_settings(NOTIFICATIONS_BROADCAST_TTL=None):
        assert Broadcast.objects.create(title="kept").expires_at is None


def test_expired_broadcasts_leave_the_banners_but_stay_in_the_list() -> None:
    alice = user("alice")
    old = sent("yesterday's news")
    Broadcast.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    html = Template("{% load notifications_tags %}{% broadcast_banners %}").render(Context({"user": alice}))
    assert "yesterday&#x27;s news" not in html and "yesterday's news" not in html
    row = client_of(alice).get("/api/notifications/").json()["broadcasts"][0]
    assert row["id"] == old.pk and row["active"] is False
    page = client_of(alice).get("/notifications/").content.decode()
    assert "yesterday&#x27;s news" in page and 'class="notif-kind">Broadcast<' in page
