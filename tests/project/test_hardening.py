"""Malformed input to the demo project over a real server: 4xx with a message, never a 500.

Bodies nested 100,000 deep and lone surrogates to the DRF APIs of every app (the
project's REST_FRAMEWORK parser and exception handler), and static-file paths that
leave the static folders, sent raw on a socket (httpx would normalise the dots).
"""

from __future__ import annotations

import http.client
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import DaphneServer, prepare_database, project_env

JSON = {"Content-Type": "application/json"}
DEEP = b"[" * 100_000


def assert_json_400(response: httpx.Response) -> None:
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert response.json()


@pytest.mark.parametrize("url", ["/api/sse/tokens/", "/api/jobs/", "/api/chat/lobby/messages/"])
def test_a_body_nested_100000_deep_is_400_json(alice: httpx.Client, url: str) -> None:
    assert_json_400(alice.post(url, content=DEEP, headers=JSON))


def test_a_body_nested_100000_deep_is_400_json_for_staff_apis(admin: httpx.Client) -> None:
    assert_json_400(admin.post("/api/sse/publish/", content=DEEP, headers=JSON))
    assert_json_400(admin.post("/api/notifications/", content=DEEP, headers=JSON))


# Over DATA_UPLOAD_MAX_MEMORY_SIZE (1 MiB) and DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000).
HUGE = b'{"body": "' + b"a" * (1024 * 1024 + 1) + b'"}'
MANY_FIELDS = "&".join(f"f{n}=1" for n in range(1100))
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def assert_json(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert response.json()["detail"]


def test_a_body_over_the_upload_limit_is_413_and_too_many_fields_400_on_every_api(
    site: DaphneServer, alice: httpx.Client, admin: httpx.Client
) -> None:
    apis = [(alice, url) for url in ("/api/sse/tokens/", "/api/jobs/", "/api/chat/lobby/messages/")]
    apis += [(admin, url) for url in ("/api/sse/publish/", "/api/notifications/")]
    start = len(site.log())
    for client, url in apis:
        assert_json(client.post(url, content=HUGE, headers=JSON), 413)
        assert_json(client.post(url, content=MANY_FIELDS, headers=FORM), 400)
    log = site.log()[start:]
    assert "Traceback" not in log and "Internal Server Error" not in log, log[-3000:]
    assert "Content Too Large: /api/notifications/" in log, "each refusal is logged, in one line"


def test_a_lone_surrogate_in_a_chat_message_is_400_and_nothing_is_stored(alice: httpx.Client) -> None:
    marker = uuid.uuid4().hex
    body = b'{"body": "%s \\ud800 broken"}' % marker.encode()
    assert_json_400(alice.post("/api/chat/lobby/messages/", content=body, headers=JSON))
    history = alice.get("/api/chat/lobby/messages/")
    assert history.status_code == 200, history.text[:300]
    assert marker not in history.text
    # A proper pair is text: that one is stored and read back.
    pair = b'{"body": "%s \\ud83d\\ude00"}' % marker.encode()
    assert alice.post("/api/chat/lobby/messages/", content=pair, headers=JSON).status_code == 201
    assert f"{marker} \U0001f600" in alice.get("/api/chat/lobby/messages/").json()["results"][0]["body"]


def test_a_lone_surrogate_to_publish_is_400_and_nothing_is_stored(admin: httpx.Client) -> None:
    channel = f"broadcast.test-{uuid.uuid4().hex[:8]}"
    refused = admin.post(
        "/api/sse/publish/",
        content=b'{"channel": "%s", "data": {"t": "\\udfff"}}' % channel.encode(),
        headers=JSON,
    )
    assert_json_400(refused)
    published = admin.post("/api/sse/publish/", json={"channel": channel, "data": {"t": "ok"}})
    assert published.status_code == 201, published.text
    assert published.json()["id"].split(":")[1].startswith("1_"), "the refused publish was stored"


def test_a_lone_surrogate_in_a_notification_is_400_and_nothing_is_stored(
    admin: httpx.Client, alice: httpx.Client
) -> None:
    marker = uuid.uuid4().hex
    body = b'{"user": "alice", "title": "%s \\udc00"}' % marker.encode()
    assert_json_400(admin.post("/api/notifications/", content=body, headers=JSON))
    listing = alice.get("/api/notifications/")
    assert listing.status_code == 200, listing.text[:300]
    assert marker not in listing.text


def test_a_lone_surrogate_in_job_params_is_400_json_and_no_job_is_made(alice: httpx.Client) -> None:
    before = alice.get("/api/jobs/").json()["count"]
    body = b'{"kind": "primes", "params": {"below": 10, "\\ud800": 1}}'
    assert_json_400(alice.post("/api/jobs/", content=body, headers=JSON))  # was an HTML 500
    listing = alice.get("/api/jobs/")
    assert listing.status_code == 200, listing.text[:300]
    assert listing.json()["count"] == before


# -- static files -------------------------------------------------------------------------------

ESCAPING = [
    "/static/../project/settings.py",
    "/static/..%2fproject/settings.py",
    "/static/%2e%2e/project/settings.py",
    "/static/sse/../../project/settings.py",
    "/static/..",
]


def raw_get(port: int, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as given: http.client sends the request line unchanged."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def log_after(server: DaphneServer, start: int, marker: str, timeout: float = 30) -> str:
    """The server's log from ``start`` on, once the access line of ``marker`` is in it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = server.log()[start:]
        if marker in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"{marker} never reached the log:\n{server.log()[start:][-3000:]}")


def check_static_paths(server: DaphneServer) -> None:
    start = len(server.log())
    for path in ESCAPING:
        status, body = raw_get(server.port, path)
        assert status == 404, (path, status, body[:300])
    assert raw_get(server.port, "/static/sse/sse.js")[0] == 200
    marker = f"/static/end-{uuid.uuid4().hex}"
    assert raw_get(server.port, marker)[0] == 404
    log = log_after(server, start, marker)
    assert "Traceback" not in log and "SuspiciousFileOperation" not in log, log[-3000:]
    assert " 500 " not in log, log[-3000:]


def test_static_paths_that_escape_are_404_without_a_traceback(site: DaphneServer) -> None:
    # DEBUG off: project/asgi.py serves the static files itself.
    check_static_paths(site)


@pytest.fixture(scope="module")
def debug_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    """DEBUG on, the bare Django application: python -m sse.daphne serves the static files."""
    tmp: Path = tmp_path_factory.mktemp("debug-site")
    env = project_env(f"sqlite:///{tmp / 'db.sqlite3'}", DEBUG="1")
    prepare_database(env, seed=False)
    with DaphneServer(env, asgi="project.asgi:django_application", log_path=tmp / "daphne.log") as server:
        yield server


def test_static_paths_that_escape_are_404_under_debug(debug_site: DaphneServer) -> None:
    check_static_paths(debug_site)
