"""Admin for rooms (members editable), messages and the read-only presence rows."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from chat.models import Message, Room

pytestmark = pytest.mark.django_db


def test_room_members_are_editable_in_the_admin(admin_client: Any) -> None:
    room = Room.objects.create(slug="staff", name="Staff", private=True)
    alice = get_user_model().objects.create_user("alice")
    change = admin_client.get(f"/admin/chat/room/{room.pk}/change/")
    assert change.status_code == 200
    assert 'name="members"' in change.content.decode()
    saved = admin_client.post(
        f"/admin/chat/room/{room.pk}/change/",
        {"slug": "staff", "name": "Staff", "private": "on", "members": [str(alice.pk)]},
    )
    assert saved.status_code == 302
    assert list(room.members.all()) == [alice]


def test_message_and_presence_lists_render(admin_client: Any) -> None:
    room = Room.objects.create(slug="lobby", name="Lobby")
    user = get_user_model().objects.create_user("bob")
    Message.objects.create(room=room, author=user, body="<b>hi</b>")
    listing = admin_client.get("/admin/chat/message/")
    assert listing.status_code == 200
    assert "&lt;b&gt;hi&lt;/b&gt;" in listing.content.decode()
    assert admin_client.get("/admin/chat/presence/").status_code == 200
    assert admin_client.get("/admin/chat/presence/add/").status_code == 403
