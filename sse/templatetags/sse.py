"""``{% load sse %}``: ``{% sse_stream "chat.room.lobby" "broadcast" %}`` on the element of a page's stream.

It writes the attributes sse-htmx.js (sse/static/sse/sse-htmx.js) reads to open the
page's one stream: the stream's URL (reversed, never written by hand) and its channels.
``{% sse_stream_url "news" %}`` is that URL with its ``?channel=`` query, for clients that
take a URL (htmx-ext-sse's ``sse-connect``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from sse.channels.registry import validate_channel_name

__all__ = ["sse_stream", "sse_stream_url"]

register = template.Library()

_AUTH = ("session", "token")


def _channel_names(values: Iterable[Any]) -> list[str]:
    names: list[str] = []
    for value in values:
        if isinstance(value, (list, tuple)):
            names.extend(_channel_names(value))
            continue
        name = str(value)
        try:
            validate_channel_name(name)
        except ValueError as exc:
            raise template.TemplateSyntaxError(f"sse_stream: {exc}") from exc
        names.append(name)
    return names


def _url(value: str) -> str:
    if value.startswith(("/", "http://", "https://")):
        return value
    try:
        return reverse(value)  # a URL name, such as "notifications:stream"
    except NoReverseMatch as exc:
        raise template.TemplateSyntaxError(f"sse_stream: no URL named {value!r}") from exc


@register.simple_tag
def sse_stream(*channels: Any, url: str = "sse:stream", auth: str = "session") -> SafeString:
    """The attributes that make an element the root of the page's stream.

    ``channels``: names, or lists of names. ``url``: a path, or the name of a URL that
    streams (default ``sse:stream``, the stream endpoint with ``?channel=``). ``auth``:
    ``"session"`` (the page's cookies: no token) or ``"token"`` (sse.js fetches a stream
    token from the token API, ``sse-api:tokens``, before connecting).
    """
    names = _channel_names(channels)
    if url == "sse:stream" and not names:
        raise template.TemplateSyntaxError("sse_stream: name at least one channel")
    if auth not in _AUTH:
        raise template.TemplateSyntaxError(
            f"sse_stream: auth must be one of {', '.join(_AUTH)}, not {auth!r}"
        )
    html = format_html(
        'data-sse-stream="{}" data-sse-channels="{}"', _url(url), json.dumps(names, separators=(",", ":"))
    )
    if auth == "token":
        html += format_html(' data-sse-auth="token" data-sse-token-url="{}"', _url("sse-api:tokens"))
    return html


@register.simple_tag
def sse_stream_url(*channels: Any) -> str:
    """The stream endpoint's URL for ``channels``: ``/sse/stream/?channel=a&channel=b``."""
    names = _channel_names(channels)
    if not names:
        raise template.TemplateSyntaxError("sse_stream_url: name at least one channel")
    return _url("sse:stream") + "?" + urlencode([("channel", name) for name in names])
