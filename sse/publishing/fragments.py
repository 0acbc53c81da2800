"""HTML fragments as events: render a template once, publish the text to every stream.

For server-rendered pages (htmx and the like) that insert an event's data as HTML:
the template is rendered by Django with autoescaping, so a value such as a chat
message's body shows as text and runs nothing. It is rendered once per event, when
it is published, and the event log stores the rendered text: every stream, and
every replay after a reconnect, sends the same bytes.

A fragment's data always starts with ``<``: that is how a page tells it from JSON.
``publish()`` JSON-encodes its data, so a JSON event's data starts with one of
``{ [ " - 0-9 t f n``, never ``<``; sse-htmx.js swaps only data that starts with ``<``,
so no JSON event, whatever its name and channel, is ever inserted as HTML. A rendered
fragment that does not start with ``<`` (plain text, or text before its first tag) is
sent after an empty comment, ``<!---->``, which shows nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asgiref.sync import sync_to_async
from django.template.loader import render_to_string

from sse.publishing.publish import publish_text

__all__ = ["FRAGMENT_PREFIX", "apublish_html", "as_fragment", "publish_html", "render_fragment"]

# Put before a fragment that would not start with "<": an empty HTML comment, which shows nothing.
FRAGMENT_PREFIX = "<!---->"


def render_fragment(template_name: str | list[str], context: Mapping[str, Any] | None = None) -> str:
    """The template rendered (autoescaped), without the blank lines around it."""
    return render_to_string(template_name, dict(context or {})).strip()


def as_fragment(html: str) -> str:
    """``html`` as a fragment's data: without leading whitespace, and starting with ``<``.

    Markup such as ``<li>...`` is returned as it is (less the whitespace before it); any
    other text gets :data:`FRAGMENT_PREFIX` in front, so a page that swaps only data
    starting with ``<`` (sse-htmx.js) still swaps it, and still never swaps JSON.
    """
    html = html.lstrip()
    return html if html.startswith("<") else FRAGMENT_PREFIX + html


def publish_html(
    channel: str,
    template_name: str | list[str],
    context: Mapping[str, Any] | None = None,
    *,
    event: str | None = None,
) -> str:
    """Render ``template_name`` with ``context`` and publish the HTML on ``channel``; return the id.

    The data is the HTML itself (not JSON), sent as one ``data:`` line per line of it, and
    always starts with ``<`` (see :func:`as_fragment`): sse-htmx.js swaps nothing else.
    Inside ``transaction.atomic()`` the event goes out on commit, as with ``sse.publish``.
    """
    return publish_text(channel, as_fragment(render_fragment(template_name, context)), event=event)


async def apublish_html(
    channel: str,
    template_name: str | list[str],
    context: Mapping[str, Any] | None = None,
    *,
    event: str | None = None,
) -> str:
    """Async form of :func:`publish_html` (templates may query the database: rendered in a thread)."""
    return await sync_to_async(publish_html)(channel, template_name, context, event=event)
