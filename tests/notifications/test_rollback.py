"""Done-when 5: a notification created inside a transaction that rolls back reaches no one."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from notifications.models import Notification
from notifications.services import anotify, notify
from sse.models import StoredEvent
from tests.notifications.helpers import open_events, shell
from tests.servers import DaphneServer

ROLLED_BACK_THEN_COMMITTED = """
from django.contrib.auth import get_user_model
from django.db import transaction
from notifications.services import notify
alice = get_user_model().objects.get(username="alice")
try:
    with transaction.atomic():
        notify(alice, {rolled!r})
        raise RuntimeError("roll back")
except RuntimeError:
    pass
notify(alice, {committed!r})
print("done")
"""


def test_rolled_back_notification_reaches_no_stream(site: DaphneServer, alice: httpx.Client) -> None:
    rolled, committed = f"rolled-{uuid.uuid4().hex[:8]}", f"committed-{uuid.uuid4().hex[:8]}"
    with open_events(alice, "/notifications/stream/") as events:
        # From another process (the shell), as a task worker or management command would.
        out = shell(site.env, ROLLED_BACK_THEN_COMMITTED.format(rolled=rolled, committed=committed))
        assert "done" in out
        # Events on a channel arrive in publish order: had the rolled-back one gone out,
        # it would come before the committed one.
        _, before = events.until(lambda e: e["event"] == "notification" and e["data"]["title"] == committed)
        assert all(e["data"].get("title") != rolled for e in before)
        assert not [e for e in before if e["event"] == "notification"]
    titles = [row["title"] for row in alice.get("/api/notifications/").json()["results"]]
    assert committed in titles and rolled not in titles


@pytest.mark.django_db(transaction=True)
def test_rollback_leaves_no_row_and_no_logged_event() -> None:
    user = get_user_model().objects.create_user("carol")
    channel = f"notifications.user.{user.pk}"
    with pytest.raises(RuntimeError), transaction.atomic():
        notify(user, "never")
        raise RuntimeError
    assert not Notification.objects.filter(recipient=user).exists()
    assert not StoredEvent.objects.filter(channel=channel).exists()

    notify(user, "kept")
    logged = list(StoredEvent.objects.filter(channel=channel).order_by("seq").values_list("event", "data"))
    assert [event for event, _ in logged] == ["notification", "unread"]
    assert '"title":"kept"' in logged[0][1] and logged[1][1] == '{"count":1}'


@pytest.mark.django_db(transaction=True)
def test_anotify_from_async_code() -> None:
    user = get_user_model().objects.create_user("dave")

    async def main() -> Notification:
        return await anotify(user, "from async", level="success")

    notification = asyncio.run(main())
    assert notification.pk and notification.level == "success"
    assert StoredEvent.objects.filter(channel=f"notifications.user.{user.pk}").count() == 2


@pytest.mark.django_db
def test_notify_refuses_bad_level_and_link() -> None:
    user = get_user_model().objects.create_user("erin")
    with pytest.raises(ValueError):
        notify(user, "x", level="loud")
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        notify(user, "x", url="javascript:alert(1)")
    assert not Notification.objects.filter(recipient=user).exists()
