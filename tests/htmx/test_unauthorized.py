"""A sign-out ends every browser client of the demo cleanly, and the page says so (issue 24,
item 5): sse.js (``/notifications/``), sse-htmx.js (``/notifications/htmx/?htmx=2`` and
``?htmx=4``) and htmx-ext-sse with sse-htmx-ext.js (``?htmx=2-ext``).

The page signs out through the real logout POST (a fetch from the page itself, so the
page stays open). The server ends the session's streams at once; each client's next
request is answered ``401``, and there it must stop: state ``stopped`` with stopReason
``unauthorized``, the layout's pill ``signed out``, an htmx root's ``data-sse-state``
``stopped``, and no request after that. The page's clock (Playwright's fake timers) is
jumped through several minutes of back-off to show it: the proxy in front of the site
counts the stream requests made after the sign-out. (htmx-ext-sse on its own retried the
401 forever: 10 requests in 75 s, with nothing on the page saying why.)
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.htmx.proxy import Proxy
from tests.htmx.test_refused_resume import PAGES, open_page, poke, until

pytestmark = pytest.mark.browser

SIGN_OUT = """async () => {
  const csrf = (document.cookie.match(/(?:^|;\\s*)csrftoken=([^;]+)/) || [])[1] || "";
  const r = await fetch("/accounts/logout/", {method: "POST", credentials: "same-origin",
    headers: {"X-CSRFToken": csrf}, redirect: "manual"});
  return r.type === "opaqueredirect" ? 302 : r.status;
}"""

SHOWN = """() => {
  const pill = document.getElementById("live-state");
  const root = document.getElementById("htmx-notifications");
  const s = window.pageStream;
  return {
    pill: [pill.dataset.state, pill.textContent.trim()],
    stream: s ? [s.state, s.stopReason] : null,
    root: root ? [root.dataset.sseState || null, root.dataset.sseStopReason || null] : null,
  };
}"""

# Page time jumped after the client stopped: longer than any back-off (htmx-ext-sse's
# reaches 64 s), several times.
JUMPS = 6


@pytest.mark.parametrize("client", list(PAGES))
def test_sign_out_stops_the_client_with_a_visible_state(client: str, browser: Any, proxy: Proxy) -> None:
    page, watch = open_page(browser, proxy, PAGES[client])
    before = len(proxy.stream_requests())
    status = page.evaluate(SIGN_OUT)
    assert status in (200, 302), f"logout answered {status}"

    until(page, lambda: page.evaluate(SHOWN)["pill"][0] == "signed-out", "the page's stream to stop", watch)
    for _ in range(JUMPS):
        poke(page)
    requests = [f"{line} -> {done}" for line, done in list(proxy.log) if " /sse/stream/" in line][before:]

    shown = page.evaluate(SHOWN)
    expected: dict[str, Any] = {
        "pill": ["signed-out", "signed out"],  # the pill's own state, as before signing in
        "stream": ["stopped", "unauthorized"],
        "root": None,
    }
    if client.startswith("sse-htmx.js"):
        expected["root"] = ["stopped", shown["root"][1]]  # sse-htmx.js writes the state only
    elif client == "htmx-ext-sse":
        expected["root"] = ["stopped", "unauthorized"]
    assert shown == expected, watch.report()
    # One request per connection the page had met the 401 (the page's stream, and the
    # extension's where it has its own); nothing after.
    assert len(requests) <= 2, (
        f"{len(requests)} stream requests after the sign-out: {requests}" + watch.report()
    )
    page.context.close()
