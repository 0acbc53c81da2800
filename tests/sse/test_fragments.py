"""HTML fragments: publish_text stores text as it is, publish_html renders once with
autoescaping and its data always starts with "<" (JSON's never does), and {% sse_stream %}
writes a page's stream root. publish() stays JSON."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.test import override_settings

import sse
from sse.publishing.fragments import FRAGMENT_PREFIX, as_fragment, render_fragment
from sse.publishing.publish import apublish_text, publish_text
from sse.storage import get_event_log
from sse.wire.encoding import encode_body

XSS = "<img src=x onerror=window.__xss=1>"
LOCMEM: list[dict[str, Any]] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "OPTIONS": {
            "loaders": [
                (
                    "django.template.loaders.locmem.Loader",
                    {
                        "item.html": "\n<li>{{ title }}</li>\n<li>{{ body }}</li>\n",
                        "text.html": "\n  {{ title }} <b>{{ body }}</b>\n",
                    },
                )
            ]
        },
    }
]


@pytest.mark.django_db
def test_publish_text_stores_the_text_unchanged_and_publish_stays_json() -> None:
    html = '<li class="a">one</li>\n<li>two &amp; "three"</li>'
    publish_text("frag", html, event="item-html")
    sse.publish("frag", html, event="item")
    stored = get_event_log().read("frag", 0, 10)
    assert [(e.event, e.data) for e in stored] == [("item-html", html), ("item", json.dumps(html))]
    # On the wire: one data: line per line of the HTML, which the client joins back with "\n".
    assert encode_body(stored[0].event, stored[0].data) == (
        b'event: item-html\ndata: <li class="a">one</li>\ndata: <li>two &amp; "three"</li>\n\n'
    )


@pytest.mark.django_db
@override_settings(TEMPLATES=LOCMEM)
def test_publish_html_renders_once_with_autoescaping() -> None:
    event_id = sse.publish_html("frag", "item.html", {"title": XSS, "body": "b"}, event="item-html")
    assert re.search(r":1_[0-9a-z]{4}$", event_id), event_id
    (stored,) = get_event_log().read("frag", 0, 10)
    assert stored.data == "<li>&lt;img src=x onerror=window.__xss=1&gt;</li>\n<li>b</li>"
    assert stored.event == "item-html"


@pytest.mark.parametrize(
    ("html", "data"),
    [
        ("<li>a</li>", "<li>a</li>"),
        (" \n\t<li>a</li>\n", "<li>a</li>\n"),
        ("<!-- a comment --><li>a</li>", "<!-- a comment --><li>a</li>"),
        ("plain text", "<!---->plain text"),
        ("  text <b>then markup</b>", "<!---->text <b>then markup</b>"),
        ("&lt;b&gt; escaped", "<!---->&lt;b&gt; escaped"),
        ('"a JSON string"', '<!---->"a JSON string"'),
        ("", "<!---->"),
        ("\n  \n", "<!---->"),
    ],
)
def test_a_fragment_always_starts_with_a_tag(html: str, data: str) -> None:
    assert FRAGMENT_PREFIX == "<!---->"
    assert as_fragment(html) == data


@pytest.mark.django_db
@override_settings(TEMPLATES=LOCMEM)
def test_publish_html_data_starts_with_a_tag_even_when_the_template_does_not() -> None:
    sse.publish_html("frag", "text.html", {"title": XSS, "body": "b"}, event="item-html")
    sse.publish_html("frag", "item.html", {"title": "t", "body": "b"}, event="item-html")
    first, second = get_event_log().read("frag", 0, 10)
    assert first.data == "<!---->&lt;img src=x onerror=window.__xss=1&gt; <b>b</b>"
    assert second.data == "<li>t</li>\n<li>b</li>"  # already a tag first: unchanged


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [XSS, f"  {XSS}", {"html": XSS}, [XSS], 0, -1, 1.5, True, False, None, "", {}, []],
)
def test_publish_data_never_starts_with_a_tag(data: Any) -> None:
    # What sse-htmx.js relies on to tell JSON from a fragment: JSON starts with { [ " - 0-9 t f n.
    sse.publish("json", data, event="item-html")
    (stored,) = get_event_log().read("json", 0, 10)
    assert stored.data[0] in '{["-0123456789tfn'


@override_settings(TEMPLATES=LOCMEM)
def test_render_fragment_strips_the_blank_lines_around() -> None:
    assert render_fragment("item.html", {"title": "t"}) == "<li>t</li>\n<li></li>"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("channel", "text", "event", "match"),
    [
        ("a b", "<p>", None, "channel"),
        ("ok", b"<p>", None, "str"),
        ("ok", {"a": 1}, None, "str"),
        ("ok", "\ud800", None, "Unicode"),
        ("ok", "<p>", "error", "reserved"),
        ("ok", "<p>", "a\nb", "event"),
    ],
)
def test_publish_text_refuses_bad_input(channel: str, text: Any, event: str | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        publish_text(channel, text, event=event)
    assert get_event_log().read("ok", 0, 10) == []


@pytest.mark.django_db
@override_settings(SSE_MAX_EVENT_BYTES=100)
def test_publish_text_size_limit() -> None:
    with pytest.raises(ValueError, match="SSE_MAX_EVENT_BYTES"):
        publish_text("ok", "x" * 200)


async def test_apublish_text_refuses_before_the_database_and_publish_text_points_to_it() -> None:
    with pytest.raises(ValueError, match="channel"):
        await apublish_text("a b", "<p>")
    with pytest.raises(RuntimeError, match="apublish_text"):
        publish_text("ok", "<p>")


def render(source: str, **context: Any) -> str:
    return Template("{% load sse %}" + source).render(Context(context))


@override_settings(ROOT_URLCONF="tests.sse_app.urls", TEMPLATES=LOCMEM)
def test_sse_stream_tag_writes_the_reversed_url_and_the_channels() -> None:
    out = render('<div {% sse_stream "chat.room.lobby" more %}>', more=["broadcast", "x.y"])
    assert out == (
        '<div data-sse-stream="/sse/stream/" '
        'data-sse-channels="[&quot;chat.room.lobby&quot;,&quot;broadcast&quot;,&quot;x.y&quot;]">'
    )
    token = render('{% sse_stream "a" auth="token" %}')
    assert token.endswith(' data-sse-auth="token" data-sse-token-url="/api/sse/tokens/"')
    assert (
        render('{% sse_stream url="/elsewhere/" %}') == 'data-sse-stream="/elsewhere/" data-sse-channels="[]"'
    )


@override_settings(ROOT_URLCONF="tests.sse_app.urls", TEMPLATES=LOCMEM)
@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("{% sse_stream %}", "at least one channel"),
        ('{% sse_stream "a b" %}', "invalid channel name"),
        ('{% sse_stream "a" auth="cookie" %}', "auth must be one of"),
        ('{% sse_stream "a" url="nowhere:stream" %}', "no URL named"),
    ],
)
def test_sse_stream_tag_refuses_mistakes_with_a_message(source: str, match: str) -> None:
    with pytest.raises(TemplateSyntaxError, match=match):
        render(source)


@override_settings(ROOT_URLCONF="tests.sse_app.urls", TEMPLATES=LOCMEM)
def test_sse_stream_url_tag_writes_the_url_with_its_channels() -> None:
    out = render('<div sse-connect="{% sse_stream_url "chat.room.lobby" more %}">', more=["broadcast"])
    assert out == '<div sse-connect="/sse/stream/?channel=chat.room.lobby&amp;channel=broadcast">'
    with pytest.raises(TemplateSyntaxError, match="at least one channel"):
        render("{% sse_stream_url %}")
    with pytest.raises(TemplateSyntaxError, match="invalid channel name"):
        render('{% sse_stream_url "a b" %}')
