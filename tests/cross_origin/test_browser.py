"""SSEStream in headless Chromium with its streams on another origin than the page.

The page is always ``http://localhost:P1`` (the origin the stream server allows). The
stream server is reached as:

- ``http://localhost:P2`` for the setups that need cookies (a token fetched from the
  stream server, withCredentials): the same site as the page, as ``app.example.com`` and
  ``sse.example.com`` are. Cookies ignore ports, so here the stream server's cookies are
  shared with the page's host the way ``CSRF_COOKIE_DOMAIN = ".example.com"`` shares them
  between subdomains: the page can read ``csrftoken`` for the token POST.
- ``http://127.0.0.1:P2`` for the setup that needs none (a token from the page's own
  backend): another site, as a stream service on its own domain would be; and to show
  that Django's SameSite=Lax session cookie is not sent across sites.

An origin the server does not allow is the page server under ``http://127.0.0.1:P1``.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.cross_origin.conftest import PASSWORD, PageServer, StreamSite, start_stream_site
from tests.servers import PYTHON, ROOT

pytestmark = pytest.mark.browser

# Generous: the suite must pass on a busy two-core machine.
WAIT_MS = 60_000


def open_page(context: Any, origin: str) -> Any:
    page = context.new_page()
    page.goto(origin + "/")
    return page


def sign_in(context: Any, base_url: str, username: str = "alice") -> None:
    """Sign in on the stream server the way a browser would: its cookies land in the context."""
    answer = context.request.post(base_url + "/login/", form={"username": username, "password": PASSWORD})
    assert answer.status == 200, answer.text()


def start(page: Any, options: dict[str, Any], token_source: str | None = None) -> None:
    page.evaluate("([o, source]) => openStream(o, source)", [options, token_source])


def wait_live(page: Any) -> None:
    page.wait_for_function("() => window.stream.state === 'live'", timeout=WAIT_MS)


def wait_stopped(page: Any) -> str:
    page.wait_for_function("() => window.stream.stopReason !== null", timeout=WAIT_MS)
    return str(page.evaluate("window.stream.stopReason"))


def wait_got(page: Any, count: int) -> list[Any]:
    """The page's tick numbers (and resets) once it has at least ``count`` of them."""
    try:
        page.wait_for_function(f"() => window.got.length >= {count}", timeout=WAIT_MS)
    except PlaywrightTimeout:
        got = page.evaluate("window.got")
        missing = sorted(set(range(count)) - set(got))
        raise AssertionError(
            f"{len(got)} of {count} events after {WAIT_MS} ms; missing {missing[:20]}; "
            f"states {page.evaluate('window.states')}"
        ) from None
    return list(page.evaluate("window.got"))


class Traffic:
    """What one page sent to the stream server, as Chromium's network layer saw it."""

    def __init__(self, page: Any, stream_url: str, token_url: str | None = None) -> None:
        self.stream_requests: list[Any] = []
        self.token_posts: list[Any] = []
        self.stream_401s: list[str] = []  # the URLs of stream requests answered 401
        self.failed: list[Any] = []

        def on_request(request: Any) -> None:
            if request.url.startswith(stream_url):
                self.stream_requests.append(request)
            elif token_url and request.url == token_url and request.method == "POST":
                self.token_posts.append(request)

        def on_response(response: Any) -> None:
            if response.url.startswith(stream_url) and response.status == 401:
                self.stream_401s.append(response.url)

        def on_failed(request: Any) -> None:
            if request.url.startswith(stream_url):
                self.failed.append(request)

        page.on("request", on_request)
        page.on("response", on_response)
        page.on("requestfailed", on_failed)


def wait_until(page: Any, condition: Any, what: Any, timeout: float = 180.0) -> None:
    """Let Playwright deliver its events until ``condition()`` holds; ``what`` may be a callable."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what() if callable(what) else what}"
        page.wait_for_timeout(250)


def test_token_from_the_stream_origin(browser: Any, pages: PageServer, site: StreamSite) -> None:
    """Setup 1: the token POST goes to the stream server with its session cookie."""
    stream_origin = site.url("localhost")
    options = {
        "url": stream_origin + "/sse/stream/",
        "channels": ["scratch.setup1"],
        "auth": "token",
        "tokenUrl": stream_origin + "/api/sse/tokens/",
        "tokenCredentials": "include",
    }
    context = browser.new_context()
    try:
        page = open_page(context, pages.origin)
        traffic = Traffic(page, options["url"], options["tokenUrl"])
        # Not signed in on the stream server: its token endpoint refuses, and the stream stops.
        start(page, options)
        assert wait_stopped(page) == "refused"

        sign_in(context, stream_origin)
        start(page, options)
        wait_live(page)
        site.burst("scratch.setup1", 3)
        assert wait_got(page, 3) == [0, 1, 2]

        assert len(traffic.token_posts) == 2
        granted = traffic.token_posts[-1]
        assert granted.response().status == 201
        sent = granted.all_headers()
        assert sent["origin"] == pages.origin
        assert "sessionid=" in sent.get("cookie", "")
        assert sent["x-csrftoken"]
        # The stream itself carries the token in its URL and no cookie.
        opened = traffic.stream_requests[-1]
        assert "token=" in opened.url
        assert "cookie" not in opened.all_headers()
    finally:
        context.close()


def test_session_cookie_with_credentials(browser: Any, pages: PageServer, site: StreamSite) -> None:
    """Setup 3: withCredentials sends the session cookie, on the same site only."""
    same_site = site.url("localhost")
    other_site = site.url("127.0.0.1")
    context = browser.new_context()
    try:
        sign_in(context, same_site)
        page = open_page(context, pages.origin)
        traffic = Traffic(page, same_site + "/sse/stream/")
        options = {"url": same_site + "/sse/stream/", "channels": ["scratch.setup3"], "withCredentials": True}
        start(page, options)
        wait_live(page)
        site.burst("scratch.setup3", 3)
        assert wait_got(page, 3) == [0, 1, 2]
        opened = traffic.stream_requests[-1]
        assert "token=" not in opened.url
        assert "sessionid=" in opened.all_headers().get("cookie", "")

        # Signed in on 127.0.0.1:P2 too, but that is another site than localhost:P1:
        # the SameSite=Lax session cookie stays home, and the stream answers 401.
        sign_in(context, other_site)
        assert any(c["name"] == "sessionid" for c in context.cookies(other_site))
        start(page, {**options, "url": other_site + "/sse/stream/"})
        assert wait_stopped(page) == "unauthorized"
        assert "live" not in page.evaluate("window.states")
    finally:
        context.close()


def test_token_from_the_page_backend(browser: Any, pages: PageServer, site: StreamSite) -> None:
    """Setup 2: a `token` function asks the page's own backend; the stream is on another site."""
    stream_url = site.url("127.0.0.1") + "/sse/stream/"
    context = browser.new_context()  # no cookies anywhere: none are needed
    try:
        page = open_page(context, pages.origin)
        traffic = Traffic(page, stream_url)
        options = {"url": stream_url, "channels": ["scratch.setup2"]}
        start(page, options, "backend")
        wait_live(page)
        site.burst("scratch.setup2", 3)
        assert wait_got(page, 3) == [0, 1, 2]
        assert page.evaluate("window.backendTokens") == 1
        opened = traffic.stream_requests[-1]
        assert "token=" in opened.url
        assert "cookie" not in opened.all_headers()

        # A token function that answers null refuses: the stream stops.
        start(page, options, "refuse")
        assert wait_stopped(page) == "refused"
    finally:
        context.close()


def test_an_origin_not_allowed_cannot_read_the_stream(
    browser: Any, pages: PageServer, site: StreamSite
) -> None:
    """``http://127.0.0.1:P1`` is not in CORS_ALLOWED_ORIGINS: a good token does not help it."""
    stream_url = site.url("localhost") + "/sse/stream/"
    token_url = site.url("localhost") + "/api/sse/tokens/"
    channel = "scratch.intruder"
    context = browser.new_context()
    try:
        # An allowed page takes one event, and notes the id before a second one.
        allowed = open_page(context, pages.origin)
        start(allowed, {"url": stream_url, "channels": [channel]}, "backend")
        wait_live(allowed)
        site.burst(channel, 1)
        assert wait_got(allowed, 1) == [0]
        before = allowed.evaluate("window.stream.lastEventId")
        assert before
        site.burst(channel, 1)
        assert wait_got(allowed, 2) == [0, 0]

        # From that id, a stream any page can read replays the second event at once...
        replay = open_page(context, pages.origin)
        start(replay, {"url": stream_url, "channels": [channel], "lastEventId": before}, "backend")
        assert wait_got(replay, 1) == [0]

        # ...but a page on an origin not in CORS_ALLOWED_ORIGINS, with a good token of its
        # own backend, never reads it: every attempt fails in the browser, none goes live.
        intruder = open_page(context, pages.other_origin)
        traffic = Traffic(intruder, stream_url)
        start(intruder, {"url": stream_url, "channels": [channel], "lastEventId": before}, "backend")
        wait_until(intruder, lambda: len(traffic.failed) >= 3, "three failed stream requests")
        assert intruder.evaluate("window.got") == []
        assert "live" not in intruder.evaluate("window.states")
        assert intruder.evaluate("window.backendTokens") >= 1

        # Its own fetches get nothing either: the stream, and the token endpoint.
        errors = intruder.evaluate(
            """async ([streamUrl, tokenUrl]) => {
                const token = (await (await fetch("/app/token", {method: "POST",
                    body: JSON.stringify({channels: ["scratch.intruder"]})})).json()).token;
                const tries = [
                    fetch(streamUrl + "?channel=scratch.intruder&token=" + encodeURIComponent(token)),
                    fetch(tokenUrl, {method: "POST", credentials: "include",
                        headers: {"Content-Type": "application/json"},
                        body: JSON.stringify({channels: ["scratch.intruder"]})}),
                ];
                const out = [];
                for (const t of tries) {
                    try { out.push("read " + (await t).status); } catch (e) { out.push(e.name); }
                }
                return out;
            }""",
            [stream_url, token_url],
        )
        assert errors == ["TypeError", "TypeError"]
    finally:
        context.close()


def test_cors_answers_only_listed_origins_on_listed_urls(pages: PageServer, site: StreamSite) -> None:
    """The doc's settings, seen from the server: which answers carry CORS headers."""
    client = site.client("staff")
    token = site.mint(["scratch.headers"])["token"]
    stream = f"/sse/stream/?channel=scratch.headers&token={token}"

    def cors_of(
        method: str, path: str, origin: str, headers: dict[str, str] | None = None, **kw: Any
    ) -> dict[str, str]:
        with client.stream(method, path, headers={"Origin": origin, **(headers or {})}, **kw) as answer:
            return {k: v for k, v in answer.headers.items() if k.startswith("access-control-")}

    allowed = cors_of("GET", stream, pages.origin)
    assert allowed["access-control-allow-origin"] == pages.origin
    assert allowed["access-control-allow-credentials"] == "true"
    assert cors_of("GET", stream, pages.other_origin) == {}
    # An expired or bad token's 401 is readable by the page: that is how sse.js knows to renew.
    assert (
        cors_of("GET", "/sse/stream/?channel=scratch.headers&token=bad", pages.origin)[
            "access-control-allow-origin"
        ]
        == pages.origin
    )
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    token_preflight = cors_of("OPTIONS", "/api/sse/tokens/", pages.origin, headers=preflight)
    assert token_preflight["access-control-allow-origin"] == pages.origin
    assert "x-csrftoken" in token_preflight["access-control-allow-headers"]
    # Outside CORS_URLS_REGEX nothing is shared, even with an allowed origin.
    assert cors_of("POST", "/burst/", pages.origin, data={"channel": "scratch.headers", "n": "0"}) == {}
    assert cors_of("GET", "/api/sse/stats/", pages.origin) == {}


def test_renews_expired_tokens_without_losing_events(browser: Any, pages: PageServer, tmp_path: Path) -> None:
    """Tokens live 3 s (2 to 3 s: the server counts whole seconds), streams 3 s, and the
    browser comes back 2 s after a stream ends (SSE_RETRY_MS): every reconnect needs a
    fresh token, the first one often before the stream's first event (sse.js then resumes
    from the id of the stream's opening block: nothing is lost).

    One page knows its tokens' expires_at (setup 1: renewed before reconnecting); the
    other gets bare token strings from its backend (setup 2: renewed on the 401). A
    separate process publishes a numbered series meanwhile; each page must get all of
    it, once each, in order.
    """
    site = start_stream_site(tmp_path, pages.origin, SSE_TOKEN_MAX_AGE="3", SSE_MAX_LIFETIME_SECONDS="3")
    saved_mint, pages.mint = pages.mint, site.mint
    publisher = None
    context = browser.new_context()
    try:
        channel = "scratch.renewal"
        knows_expiry = open_page(context, pages.origin)
        same_site = site.url("localhost")
        sign_in(context, same_site)
        first = Traffic(knows_expiry, same_site + "/sse/stream/", same_site + "/api/sse/tokens/")
        start(
            knows_expiry,
            {
                "url": same_site + "/sse/stream/",
                "channels": [channel],
                "auth": "token",
                "tokenUrl": same_site + "/api/sse/tokens/",
                "tokenCredentials": "include",
            },
        )
        bare = open_page(context, pages.origin)
        second = Traffic(bare, site.url("127.0.0.1") + "/sse/stream/")
        start(bare, {"url": site.url("127.0.0.1") + "/sse/stream/", "channels": [channel]}, "backend-bare")
        wait_live(knows_expiry)
        wait_live(bare)

        publisher = subprocess_publisher(site, channel)

        def renewed() -> bool:
            # Two renewals each, and the bare-token page met a 401 on the way.
            return (
                len(first.token_posts) >= 3
                and bare.evaluate("window.backendTokens") >= 3
                and bool(second.stream_401s)
            )

        wait_until(
            bare,
            renewed,
            lambda: (
                f"two token renewals on each page (token posts {len(first.token_posts)}, "
                f"backend tokens {bare.evaluate('window.backendTokens')}, 401s {second.stream_401s})"
            ),
        )
        assert publisher.stdin is not None and publisher.stdout is not None
        publisher.stdin.close()
        out = publisher.stdout.read()
        assert publisher.wait(timeout=60) == 0
        published = int(re.fullmatch(r"published (\d+)\n", out).group(1))  # type: ignore[union-attr]
        assert published > 0

        expected = list(range(published))
        for page in (knows_expiry, bare):
            assert wait_got(page, published) == expected
        # Page one renewed at least once before any 401 could happen: it knew the expiry.
        assert len(first.token_posts) - 1 > len(first.stream_401s)
    finally:
        context.close()
        if publisher is not None and publisher.poll() is None:
            publisher.kill()
            publisher.wait()
        pages.mint = saved_mint
        site.stop()


def subprocess_publisher(site: StreamSite, channel: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-m", "tests.cross_origin.publisher", channel, "--every", "0.1"],
        cwd=ROOT,
        env=site.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
