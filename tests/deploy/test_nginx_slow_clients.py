"""Slow clients through nginx in front of uvicorn, a server with no header timeout of its own.

nginx runs the repository's site file, ``deploy/nginx/django-sse.conf`` (``bench.nginx_site``),
with its ``client_header_timeout`` and ``client_body_timeout`` at 3 s instead of 10 s so the
tests are short, in front of uvicorn with the README's command. Clients send a byte every
half second (tests/deploy/trickle.py); what nginx does:

- **Slow headers**: ``client_header_timeout`` bounds the whole header, not the gap between
  two bytes: the connection is closed, without an answer (nginx logs ``408``).
- **A body that stops coming**: ``client_body_timeout`` counts only the time between two
  reads: a client that sends nothing for that long is closed the same way.
- **A body that keeps trickling** (a byte every half second, well under the repository's
  10 s) is never cut by nginx: nginx reads it, holding the connection itself.

In every case uvicorn has no connection for any of these clients: nginx passes a request on
only once its headers and its whole body are in (``proxy_request_buffering``, on by
default). With the two timeout lines dropped from the site file, nginx's default of 60 s
applies, past the 45 s the clients wait, and the first two tests fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from bench.cluster import NGINX
from bench.nginx_site import NginxSite
from bench.slow_clients import established
from tests.deploy.servers import Server
from tests.deploy.trickle import CLIENTS, SLOW_BODY_HEAD, SLOW_HEADERS, crowd

pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists(), reason="nginx is not installed (scripts/system-packages)"
)

SHORT = {"client_header_timeout": "3s", "client_body_timeout": "3s"}
CLOSED = {b"", b"reset"}  # nginx answers a timed-out client nothing


@pytest.fixture
def front(serve: Callable[..., Server]) -> Iterator[Callable[[Mapping[str, str | None]], NginxSite]]:
    """``front(timeouts) -> NginxSite``: nginx with the site file, in front of a new uvicorn."""
    sites: list[NginxSite] = []

    def make(timeouts: Mapping[str, str | None]) -> NginxSite:
        server = serve("uvicorn")
        sites.append(NginxSite([server.port], timeouts=timeouts).start())
        return sites[-1]

    yield make
    for site in sites:
        site.stop()


async def _watched(site: NginxSite, head: bytes, payload: bytes) -> tuple[list[bytes], int]:
    """The crowd's answers, and the most connections the server held while it was sending."""
    upstream = site.upstreams[0]
    most = 0

    async def watch() -> None:
        nonlocal most
        while True:
            most = max(most, established(upstream))
            await asyncio.sleep(0.2)

    watching = asyncio.create_task(watch())
    try:
        answers = await crowd(site.port, head, payload)
    finally:
        watching.cancel()
    return answers, most


def _still_served(site: NginxSite) -> int:
    return httpx.get(f"http://127.0.0.1:{site.port}/accounts/login/", timeout=30).status_code


def test_slow_headers_are_closed_by_nginx(front: Callable[..., NginxSite]) -> None:
    site = front(SHORT)
    answers, server_connections = asyncio.run(_watched(site, b"", SLOW_HEADERS))
    assert set(answers) <= CLOSED, (answers, site.error_log()[-2000:])
    assert site.access_log().count('" 408 ') == CLIENTS, site.access_log()
    assert server_connections == 0
    assert _still_served(site) == 200


def test_a_body_that_stops_coming_is_closed_by_nginx(front: Callable[..., NginxSite]) -> None:
    site = front(SHORT)
    answers, server_connections = asyncio.run(_watched(site, SLOW_BODY_HEAD, b"a" * 8))
    assert set(answers) <= CLOSED, (answers, site.error_log()[-2000:])
    assert site.access_log().count('"POST /accounts/login/ HTTP/1.1" 408 ') == CLIENTS, site.access_log()
    assert server_connections == 0
    assert _still_served(site) == 200


def test_a_trickling_body_is_held_by_nginx_not_by_the_server(front: Callable[..., NginxSite]) -> None:
    site = front({})  # the repository's 10 s: twenty times the gap between two bytes
    answers, server_connections = asyncio.run(_watched(site, SLOW_BODY_HEAD, b"a" * 4096))
    assert answers == [b"held"] * CLIENTS, answers
    assert server_connections == 0
    assert _still_served(site) == 200
