"""Only server-rendered fragments are swapped as HTML (issue 24, item 4).

An event published as JSON (``sse.publish()``, ``/api/sse/publish/``) is never swapped by
sse-htmx.js, whatever its name and channel: its data never starts with ``<``, and
``publish_html``'s always does. On /notifications/htmx/ (htmx 2 and htmx 4), JSON events
named ``notification-html`` (the page's ``sse-swap``), published on ``broadcast`` and on the
user's fragments channel, as a staff user with ``sse.publish_event`` through the API and
from ``manage.py shell``, run no script and add no element; a real notification published
after them is swapped in, so the stream was live and had passed them through.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.notifications.helpers import shell
from tests.project.conftest import browser_login, login
from tests.servers import DaphneServer

pytestmark = pytest.mark.browser

WAIT_MS = 120_000  # generous: the machine is shared
EVENT = "notification-html"  # what the page's list swaps: sse-swap="notification-html"
ROOT = "#htmx-notifications"
LIST = "#notification-list"  # under ROOT, sse-swap="notification-html" hx-swap="afterbegin"
# Markup that runs or shows up if swapped: an element with an onerror, a script (htmx runs
# the scripts of swapped content), and a plain element.
PAYLOADS: list[Any] = [
    "<img class=injected src=/x onerror=window.__xss=1>",
    "<script>window.__xss=1</script><b class=injected>script</b>",
    {"html": "<img class=injected src=/x onerror=window.__xss=1>"},
    ["<b class=injected>in a list</b>"],
]
# A staff user with the permission to publish through the API, and only that (not a superuser).
MAKE_PUBLISHER = """
from django.contrib.auth.models import Permission, User
user, _ = User.objects.get_or_create(username="publisher")
user.is_staff = True
user.is_superuser = False
user.set_password("demo")
user.save()
user.user_permissions.add(Permission.objects.get(content_type__app_label="sse", codename="publish_event"))
"""


@pytest.fixture
def publisher(htmx_site: DaphneServer) -> Iterator[httpx.Client]:
    shell(htmx_site.env, MAKE_PUBLISHER)
    client = login(htmx_site.url, "publisher")
    yield client
    client.close()


def api_publish(client: httpx.Client, channel: str, data: Any) -> None:
    answer = client.post("/api/sse/publish/", json={"channel": channel, "event": EVENT, "data": data})
    assert answer.status_code == 201, answer.text


def shell_publish(site: DaphneServer, channel: str, data: Any) -> None:
    code = f"import json, sse\nsse.publish({channel!r}, json.loads({json.dumps(data)!r}), event={EVENT!r})"
    shell(site.env, code)


@pytest.mark.parametrize("version", ["2", "2-ext", "4"])
def test_json_named_like_a_fragment_event_is_never_swapped(
    version: str, browser: Any, htmx_site: DaphneServer, publisher: httpx.Client, staff: httpx.Client
) -> None:
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    browser_login(page, htmx_site.url, "alice")
    page.goto(f"{htmx_site.url}/notifications/htmx/?htmx={version}")
    page.locator(f"{ROOT}[data-sse-state=live]").wait_for(state="attached", timeout=WAIT_MS)
    assert page.evaluate("htmx.version").split(".")[0] == version[0]
    # What the page's stream hands its handlers under the swapped name, seen from the page:
    # each JSON event below is waited for there before the next step.
    if version == "2-ext":  # htmx-ext-sse's stream, on the sse-connect URL's channels
        connect = page.get_attribute(ROOT, "sse-connect") or ""
        channels = parse_qs(urlsplit(connect).query)["channel"]
        page.evaluate(
            "window.__seen = []; document.addEventListener("
            "'htmx:sseBeforeMessage', (e) => window.__seen.push(e.detail.data), true)"
        )
    else:
        # The root's channels join the page's one stream, which carries broadcast too.
        channels = [*json.loads(page.get_attribute(ROOT, "data-sse-channels") or "[]"), "broadcast"]
        page.evaluate(
            f"window.__seen = []; SSEHtmx.open(document.querySelector({ROOT!r}))"
            f".on({EVENT!r}, (data, ev) => window.__seen.push(ev.data))"
        )
    (fragments,) = [c for c in channels if c.startswith("notifications.html.")]
    before = page.locator(f"{LIST} > *").count()

    tag = uuid.uuid4().hex[:8]
    published = 0
    for channel in ("broadcast", fragments):
        for data in PAYLOADS:
            api_publish(publisher, channel, data)
            published += channel in channels
        shell_publish(htmx_site, channel, PAYLOADS[0])
        published += channel in channels
    page.wait_for_function(f"window.__seen.length >= {published}", timeout=WAIT_MS)
    seen = page.evaluate("window.__seen")
    assert len(seen) == published
    assert all(not text.lstrip().startswith("<") for text in seen), seen

    # A real notification after them: swapped in, so the swaps before it have been done.
    title = f"{tag} real"
    answer = staff.post("/api/notifications/", json={"user": "alice", "title": title})
    assert answer.status_code == 201, answer.text
    page.locator(f"{LIST} .n-title", has_text=title).wait_for(timeout=WAIT_MS)
    page.wait_for_timeout(500)  # an <img src=/x> that got in fails to load by now

    found = {
        "script ran": page.evaluate("typeof window.__xss") != "undefined",
        "elements injected": page.locator(".injected").count(),
        "img or script in the list": page.locator(f"{LIST} img, {LIST} script").count(),
        "items added": page.locator(f"{LIST} > *").count() - before,
        "newest item": page.locator(f"{LIST} > *").first.locator(".n-title").inner_text(),
        "sse-htmx warnings": len([w for w in warnings if w.startswith("sse-htmx:")]),
    }
    assert found == {
        "script ran": False,
        "elements injected": 0,
        "img or script in the list": 0,
        "items added": 1,
        "newest item": title,
        "sse-htmx warnings": 1,  # once, not once per event
    }, warnings
    assert errors == []
    context.close()
