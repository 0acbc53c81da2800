"""Two origins: a tiny static server for the page, ``python -m sse.daphne`` for the streams.

The page server listens on 127.0.0.1:P1 and is reached as ``http://localhost:P1``
(the origin the stream server allows) or ``http://127.0.0.1:P1`` (an origin it does
not). It serves the test page, ``sse.js`` straight from sse/static/sse/, and the
page's own backend: ``POST /app/token`` mints a stream token for ``alice`` through
tests/cross_origin/mint.py (the stream server's settings and SECRET_KEY).

The stream server is tests/sse_app under tests/cross_origin/settings.py (the doc's
settings block); each test reaches it as ``http://localhost:P2`` or
``http://127.0.0.1:P2``, whichever makes its case realistic.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import PYTHON, ROOT, DaphneServer, free_port, project_env
from tests.sse.conftest import prepare

SETTINGS = "tests.cross_origin.settings"
SSE_JS = ROOT / "sse" / "static" / "sse" / "sse.js"
PASSWORD = "test"

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>a page on another origin than its streams</title>
<script src="/sse.js"></script>
<script>
  // The page's own backend mints stream tokens: what the `token` option calls.
  window.backendTokens = 0;
  async function backendToken(channels, bare) {
    window.backendTokens += 1;
    const r = await fetch("/app/token", {method: "POST", body: JSON.stringify({channels})});
    if (!r.ok) throw new Error("backend token: " + r.status);
    const answer = await r.json();
    return bare ? answer.token : answer;
  }
  // openStream(options, tokenSource): an SSEStream noting its tick numbers and states.
  window.openStream = function (options, tokenSource) {
    if (window.stream) window.stream.stop();  // one stream at a time, its own token source
    const o = Object.assign({}, options);
    if (tokenSource === "backend") o.token = (channels) => backendToken(channels, false);
    if (tokenSource === "backend-bare") o.token = (channels) => backendToken(channels, true);
    if (tokenSource === "refuse") o.token = async () => null;
    const stream = new SSEStream(o);
    window.got = [];
    window.states = [];
    stream.on("tick", (data) => window.got.push(data.n));
    stream.on("reset", (data) => window.got.push("reset " + data.reason));
    stream.onState((state) => window.states.push(state));
    window.stream = stream;
    stream.start();
  };
</script>
<p>page</p>
"""


class PageServer:
    """The page's origin: static files and a token-minting backend, on 127.0.0.1:port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mint: Any = None  # (channels) -> {"token", "expires_at"}: the current stream site's
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/":
                    self._answer(200, "text/html; charset=utf-8", PAGE.encode())
                elif self.path == "/sse.js":
                    self._answer(200, "text/javascript; charset=utf-8", SSE_JS.read_bytes())
                else:
                    self._answer(404, "text/plain", b"not found\n")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/app/token" or server.mint is None:
                    self._answer(404, "text/plain", b"not found\n")
                    return
                answer = server.mint(json.loads(body)["channels"])
                self._answer(200, "application/json", json.dumps(answer).encode())

            def _answer(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        """The origin the stream server allows (CORS_ALLOWED_ORIGINS)."""
        return f"http://localhost:{self.port}"

    @property
    def other_origin(self) -> str:
        """The same server under another origin, one the stream server does not allow."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class StreamSite:
    server: DaphneServer
    users: dict[str, int]
    minter: subprocess.Popen[str]
    clients: dict[str, httpx.Client] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def env(self) -> dict[str, str]:
        return self.server.env

    def url(self, host: str) -> str:
        return f"http://{host}:{self.server.port}"

    def mint(self, channels: list[str], username: str = "alice") -> dict[str, str]:
        """A token from the page's backend (shares the stream server's SECRET_KEY)."""
        with self.lock:
            assert self.minter.stdin is not None and self.minter.stdout is not None
            self.minter.stdin.write(json.dumps({"user": self.users[username], "channels": channels}) + "\n")
            self.minter.stdin.flush()
            line = self.minter.stdout.readline()
        if not line:
            raise RuntimeError("the token minter exited")
        return json.loads(line)  # type: ignore[no-any-return]

    def client(self, username: str) -> httpx.Client:
        """An httpx client signed in as ``username`` (kept for the site's life)."""
        if username not in self.clients:
            client = httpx.Client(base_url=self.url("127.0.0.1"), timeout=60)
            answer = client.post("/login/", data={"username": username, "password": PASSWORD})
            assert answer.status_code == 200, f"sign-in of {username} failed: {answer.status_code}"
            self.clients[username] = client
        return self.clients[username]

    def burst(self, channel: str, count: int) -> None:
        """``count`` tick events {"n": 0..count-1} published by the server process."""
        answer = self.client("staff").post("/burst/", data={"channel": channel, "n": str(count)})
        assert answer.status_code == 200, answer.text

    def stop(self) -> None:
        for client in self.clients.values():
            client.close()
        if self.minter.stdin is not None:
            self.minter.stdin.close()
        self.minter.wait(timeout=30)
        self.server.stop()


def start_stream_site(tmp: Path, page_origin: str, **extra: str) -> StreamSite:
    env = project_env(
        "",
        settings=SETTINGS,
        SSE_APP_DB=str(tmp / "db.sqlite3"),
        SECRET_KEY="cross-origin-test-secret-key",
        CROSS_ORIGIN_PAGE=page_origin,
        SSE_HEARTBEAT_SECONDS="1",
        **extra,
    )
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    users = prepare(env)
    minter = subprocess.Popen(
        [PYTHON, "-m", "tests.cross_origin.mint"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    server = DaphneServer(env, asgi="tests.sse_app.asgi:application", log_path=tmp / "daphne.log")
    try:
        server.start()
    except BaseException:
        minter.kill()
        minter.wait()
        raise
    return StreamSite(server, users, minter)


@pytest.fixture(scope="module")
def pages() -> Iterator[PageServer]:
    server = PageServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, pages: PageServer) -> Iterator[StreamSite]:
    """The stream server with the doc's settings and the sse_app's defaults (300 s tokens)."""
    running = start_stream_site(tmp_path_factory.mktemp("cross-origin"), pages.origin)
    pages.mint = running.mint
    try:
        yield running
    finally:
        pages.mint = None
        running.stop()
