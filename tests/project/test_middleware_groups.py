"""Every request answers what Django's own handler answers, with every middleware in force.

``project.asgi`` serves requests through ``sse.server.asgi`` and ``sse.server.middleware_groups`` (the
site's middlewares in two thread hops per group); ``tests/project/stock_asgi.py`` serves
the same project through Django's own
``get_asgi_application()``. Both run under one server on one database, with the demo's
middlewares and django-cors-headers in front (tests/project/cors_settings.py). For each
request below the two answer the same status, the same headers and, short of a stream's
events, the same body: allowed, refused, signed out, a bad host, a wrong method without a
CSRF token, cross-origin from an allowed and from another origin, a preflight, a path
no URL matches; and the same for pages, the JSON API and the sign-in form.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.project.conftest import login
from tests.servers import DaphneServer, prepare_database, project_env

ALLOWED_ORIGIN = "https://app.example.com"
# What differs between any two answers: a cookie's expiry (the clock's second), a CSRF
# cookie minted for a request that had none (random).
FRESH = re.compile(r"(?<=expires=)[^;]+|(?<=csrftoken=)[^;]+")
MASKED_TOKEN = re.compile(rb'(?<=name="csrfmiddlewaretoken" value=")[^"]+')


@dataclass
class Pair:
    ours: DaphneServer
    stock: DaphneServer
    cookies: dict[str, str]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp: Path = tmp_path_factory.mktemp("stream-chain")
    env = project_env(f"sqlite:///{tmp / 'db.sqlite3'}", settings="tests.project.cors_settings")
    prepare_database(env)
    with (
        DaphneServer(env, log_path=tmp / "ours.log") as ours,
        DaphneServer(env, asgi="tests.project.stock_asgi:application", log_path=tmp / "stock.log") as stock,
    ):
        client = login(ours.url, "alice")
        cookies = dict(client.cookies)
        client.close()
        yield Pair(ours, stock, cookies)


def answer(server: DaphneServer, method: str, path: str, headers: dict[str, str]) -> tuple[int, list, bytes]:
    """Status, headers (but dates and fresh CSRF cookies) and body; of a stream, its headers only."""
    with httpx.Client(base_url=server.url, timeout=20) as client:
        with client.stream(method, path, headers=headers) as response:
            kept = sorted(
                (k.lower(), "(a date)" if k.lower() == "expires" else FRESH.sub("(fresh)", v))
                for k, v in response.headers.multi_items()
                if k.lower() != "date"
            )
            streaming = response.headers.get("content-type", "").startswith("text/event-stream")
            body = b"" if streaming else response.read()
            # A page's CSRF token is masked anew for every response.
            return response.status_code, kept, MASKED_TOKEN.sub(b"(token)", body)


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


CASES = {
    "allowed": ("GET", "/sse/stream/?channel=broadcast", {}, True, 200),
    "refused": ("GET", "/sse/stream/?channel=dashboard", {}, True, 403),
    "unknown channel": ("GET", "/sse/stream/?channel=nothing.here", {}, True, 403),
    "signed out": ("GET", "/sse/stream/?channel=broadcast", {}, False, 401),
    "bad host": ("GET", "/sse/stream/?channel=broadcast", {"Host": "evil.example"}, True, 400),
    "POST without a CSRF token": ("POST", "/sse/stream/?channel=broadcast", {}, True, 403),
    "cross-origin, allowed origin": (
        "GET",
        "/sse/stream/?channel=broadcast",
        {"Origin": ALLOWED_ORIGIN},
        True,
        200,
    ),
    "cross-origin, other origin": (
        "GET",
        "/sse/stream/?channel=broadcast",
        {"Origin": "https://elsewhere.example"},
        True,
        200,
    ),
    "preflight": (
        "OPTIONS",
        "/sse/stream/?channel=broadcast",
        {"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "GET"},
        False,
        200,
    ),
    "no such stream": ("GET", "/sse/nothing/stream/", {}, True, 404),
    # Not streams: pages, the JSON API, forms.
    "a page": ("GET", "/notifications/", {}, True, 200),
    "a page, signed out": ("GET", "/notifications/", {}, False, 302),
    "the sign-in form": ("GET", "/accounts/login/", {}, False, 200),
    "a form posted without a CSRF token": ("POST", "/accounts/login/", {}, False, 403),
    "the JSON API": ("GET", "/api/notifications/?page_size=5", {"Accept": "application/json"}, True, 200),
    "the JSON API, signed out": ("GET", "/api/notifications/", {"Accept": "application/json"}, False, 403),
    "a page, bad host": ("GET", "/notifications/", {"Host": "evil.example"}, True, 400),
    "no such page": ("GET", "/nothing/here/", {}, True, 404),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_same_answer_as_djangos_own_handler(pair: Pair, case: str) -> None:
    method, path, headers, signed_in, expected = CASES[case]
    if signed_in:
        headers = {**headers, "Cookie": cookie_header(pair.cookies)}
    ours = answer(pair.ours, method, path, headers)
    stock = answer(pair.stock, method, path, headers)
    assert ours[0] == expected, ours
    assert ours == stock
