"""What Django tells this process at once: sign-outs, user saves and deletions, group and
permission changes, and apps' memberships (:func:`follow_membership`), each an access
change (sse.auth.access_changes) and, for sign-outs and user saves, streams ended at once
(sse.auth.revocation.end_matching) on the hub :func:`watch` names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import get_user_model, user_logged_out
from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

from sse.auth.access_changes import MAX_NOTICE_USERS, changed
from sse.auth.revocation import WatchedHub, end_matching, watch_hub, watched_hub
from sse.auth.tokens import auth_digest

__all__ = ["connect_signals", "follow_membership", "watch"]


def watch(hub: WatchedHub) -> None:
    """Let this process's sign-outs, user changes and access notices reach ``hub``'s streams at once."""
    watch_hub(hub)
    user_logged_out.connect(_on_logged_out, dispatch_uid="sse.auth.revocation.logged_out")
    connect_signals()


def connect_signals() -> None:
    """Connect the signals that say a user's access may have changed (``SseConfig.ready()``,
    in every process: a change made by a worker or a shell reaches the servers' streams)."""
    try:
        user_model = get_user_model()
    except (ImproperlyConfigured, LookupError):  # no django.contrib.auth: streams carry no user
        return
    post_save.connect(_on_user_saved, sender=user_model, dispatch_uid="sse.auth.revocation.user_saved")
    post_delete.connect(_on_user_deleted, sender=user_model, dispatch_uid="sse.auth.revocation.user_deleted")
    for name in ("groups", "user_permissions"):
        try:
            field = user_model._meta.get_field(name)
        except Exception:  # a custom user model without PermissionsMixin
            continue
        if field.many_to_many:
            follow_membership(field)
    try:
        from django.contrib.auth.models import Group
    except (ImportError, RuntimeError):  # django.contrib.auth not installed
        return
    groups = _users_of_groups_through()
    if groups is not None:
        m2m_changed.connect(
            _on_group_permissions,
            sender=Group.permissions.through,
            dispatch_uid="sse.auth.revocation.group_perms",
        )
        pre_delete.connect(_on_group_deleted, sender=Group, dispatch_uid="sse.auth.revocation.group_deleted")


def _users_of_groups_through() -> tuple[Any, str, str] | None:
    """The user model's groups table: (through model, its user column, its group column)."""
    try:
        field = get_user_model()._meta.get_field("groups")
    except Exception:
        return None
    if not field.many_to_many:
        return None
    return field.remote_field.through, field.m2m_field_name(), field.m2m_reverse_field_name()


def _users_in_groups(group_pks: Iterable[Any], using: str | None) -> list[Any]:
    found = _users_of_groups_through()
    if found is None:
        return []
    through, user_column, group_column = found
    rows = through._default_manager.using(using).filter(**{f"{group_column}__in": list(group_pks)})
    return list(rows.values_list(user_column, flat=True).distinct()[: MAX_NOTICE_USERS + 1])


def _on_group_permissions(
    sender: Any,
    instance: Any,
    action: str,
    reverse: bool,
    pk_set: Any,
    using: str | None = None,
    **kwargs: Any,
) -> None:
    # Forward: group.permissions.add(...), instance is the group; reverse:
    # permission.group_set.add(groups), pk_set are groups.
    if not reverse:
        if action in ("post_add", "post_remove", "post_clear"):
            changed(_users_in_groups([instance.pk], using), using)
    elif action in ("post_add", "post_remove"):
        changed(_users_in_groups(pk_set or (), using), using)
    elif action == "pre_clear":
        groups = sender._default_manager.using(using).filter(permission=instance.pk)
        changed(_users_in_groups(groups.values_list("group", flat=True), using), using)


def _on_group_deleted(sender: Any, instance: Any, using: str | None = None, **kwargs: Any) -> None:
    changed(_users_in_groups([instance.pk], using), using)


def _on_user_deleted(sender: Any, instance: Any, using: str | None = None, **kwargs: Any) -> None:
    changed([instance.pk], using)


def follow_membership(field: Any) -> None:
    """Re-check at once the streams of users added to, removed from or cleared out of a
    many-to-many between the user model and another model (``Room.members``, ``User.groups``).

    ``field``: the many-to-many (``Room.members`` as the class attribute, or its field).
    Connects ``m2m_changed`` for it, both ways round; each change calls
    :func:`~sse.auth.access_changes.access_changed` for the users concerned when its
    transaction commits.
    """
    field = getattr(field, "field", field)
    if not getattr(field, "many_to_many", False):
        raise TypeError(f"{field!r} is not a many-to-many field")
    through = field.remote_field.through
    m2m_changed.connect(
        _membership_handler(field, through),
        sender=through,
        weak=False,
        dispatch_uid=f"sse.auth.revocation.follow.{through._meta.label_lower}",
    )


def _membership_handler(field: Any, through: Any) -> Callable[..., None]:
    """The ``m2m_changed`` receiver of a many-to-many that joins the user model."""
    user_model = get_user_model()
    source_column, target_column = field.m2m_field_name(), field.m2m_reverse_field_name()
    if field.related_model is user_model:
        users_on_source = False  # Room.members: the field's model holds users on its far side
    elif field.model is user_model:
        users_on_source = True  # User.groups
    else:
        raise TypeError(f"{field!r} does not join the user model ({user_model._meta.label})")
    user_column, other_column = (
        (source_column, target_column) if users_on_source else (target_column, source_column)
    )

    def on_change(
        sender: Any,
        instance: Any,
        action: str,
        reverse: bool,
        pk_set: Any,
        using: str | None = None,
        **kwargs: Any,
    ) -> None:
        instance_is_user = users_on_source != reverse
        if instance_is_user:
            if action in ("post_add", "post_remove", "post_clear"):
                changed([instance.pk], using)
        elif action in ("post_add", "post_remove"):
            changed(pk_set or (), using)
        elif action == "pre_clear":  # who they were: after the clear nobody is left to name
            rows = through._default_manager.using(using).filter(**{other_column: instance.pk})
            changed(rows.values_list(user_column, flat=True)[: MAX_NOTICE_USERS + 1], using)

    return on_change


def _on_logged_out(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    hub = watched_hub()
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if hub is None or key is None or not hub.subscribers:
        return
    hub.loop.call_soon_threadsafe(end_matching, hub, None, key, None, True)


def _on_user_saved(
    sender: Any,
    instance: Any,
    created: bool = False,
    update_fields: Any = None,
    using: str | None = None,
    **kwargs: Any,
) -> None:
    if created or instance.pk is None:
        return  # a new user has no stream
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # every sign-in saves this
    # Staff, superuser and active flags, the password: its streams' rules and identity,
    # re-checked when the save commits, in every process.
    changed([instance.pk], using)
    hub = watched_hub()
    if hub is None:
        return
    active = bool(getattr(instance, "is_active", True))
    hub.loop.call_soon_threadsafe(end_matching, hub, str(instance.pk), None, auth_digest(instance), active)
