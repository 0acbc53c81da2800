"""HTML fragments as events: render a template once, publish the text to every stream.

For server-rendered pages (htmx and the like) that insert an event's data as HTML:
the template is rendered by Django with autoescaping, so a value such as a chat
message's body shows as text and runs nothing. It is rendered once per event, when
it is published, and the event log stores the rendered text: every stream, and
every replay after a reconnect, sends the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asgiref.sync import sync_to_async
from django.template.loader import render_to_string

from sse.publishing import publish_text

__all__ = ["apublish_html", "publish_html", "render_fragment"]


def render_fragment(template_name: str | list[str], context: Mapping[str, Any] | None = None) -> str:
    """The template rendered (autoescaped), without the blank lines around it."""
    return render_to_string(template_name, dict(context or {})).strip()


def publish_html(
    channel: str,
    template_name: str | list[str],
    context: Mapping[str, Any] | None = None,
    *,
    event: str | None = None,
) -> str:
    """Render ``template_name`` with ``context`` and publish the HTML on ``channel``; return the id.

    The data is the HTML itself (not JSON), sent as one ``data:`` line per line of it.
    Inside ``transaction.atomic()`` the event goes out on commit, as with ``sse.publish``.
    """
    return publish_text(channel, render_fragment(template_name, context), event=event)


async def apublish_html(
    channel: str,
    template_name: str | list[str],
    context: Mapping[str, Any] | None = None,
    *,
    event: str | None = None,
) -> str:
    """Async form of :func:`publish_html` (templates may query the database: rendered in a thread)."""
    return await sync_to_async(publish_html)(channel, template_name, context, event=event)
