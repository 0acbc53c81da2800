"""Slow clients under each ASGI server the README names: ended, not held.

Each server runs the README's command (tests/deploy/servers.py) with
``SSE_BODY_TIMEOUT_SECONDS`` at 3 s. Clients send a byte every half second:

- **A slow body**: a POST whose headers come at once and whose body never finishes gets
  ``408`` and its connection closed (``sse.server.body_timeout`` under every server;
  ``sse.server.request_deadline`` under ``python -m sse.daphne``, where Twisted reads the
  whole body before the application is called), or a reset when a byte of it was still in
  flight as the connection closed. Plain ``daphne`` cannot be given this.
- **Slow headers**, under the servers the README names a setting for: that setting (its
  default, or the value the README gives) closes the connection.

Only outcomes are asserted, with a wide margin over the timeout (tests/deploy/trickle.py): the
machine is busy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.deploy.servers import COMMANDS, Server
from tests.deploy.trickle import CLIENTS, SLOW_BODY_HEAD, SLOW_HEADERS, crowd

BODY_TIMEOUT_S = "3"

KNOWN_GAPS = {
    "daphne": (
        "plain Daphne: Twisted reads the whole body before the application is called and has "
        "no timeout but an idle one that every byte restarts"
    ),
}

# The README's setting for slow headers, per server (None: its default does it).
HEADER_SETTINGS: dict[str, list[str] | None] = {
    "sse.daphne": None,  # SSE_BODY_TIMEOUT_SECONDS (3 s here)
    "granian": ["--http1-header-read-timeout", "3000"],
    "hypercorn": None,  # --keep-alive, 5 s by default
}


def _servers() -> list[object]:
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[name]))
        if name in KNOWN_GAPS
        else name
        for name in COMMANDS
    ]


@pytest.mark.parametrize("name", _servers())
def test_a_slow_body_gets_408_and_its_connection_closed(name: str, serve: Callable[..., Server]) -> None:
    server = serve(name, SSE_BODY_TIMEOUT_SECONDS=BODY_TIMEOUT_S)
    answers = asyncio.run(crowd(server.port, SLOW_BODY_HEAD, b"a" * 4096))
    answered = [answer for answer in answers if answer != b"reset"]
    firsts = [answer.split(b"\r\n", 1)[0].split(b" ")[:2] for answer in answered]  # hypercorn: no reason
    # A byte still in flight when the server closes makes the kernel reset the connection,
    # which can throw away the 408 before the client read it: closed all the same.
    assert firsts == [[b"HTTP/1.1", b"408"]] * len(answered), (answers, server.output()[-2000:])
    assert len(answered) >= CLIENTS // 2, (answers, server.output()[-2000:])
    assert all(answer.endswith(b"the request body did not arrive in time.\n") for answer in answered)


@pytest.mark.parametrize("name", list(HEADER_SETTINGS))
def test_slow_headers_are_cut_by_the_documented_setting(
    name: str, serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(COMMANDS, name, COMMANDS[name] + (HEADER_SETTINGS[name] or []))
    server = serve(name, SSE_BODY_TIMEOUT_SECONDS=BODY_TIMEOUT_S)
    answers = asyncio.run(crowd(server.port, b"", SLOW_HEADERS))
    assert b"held" not in answers, server.output()[-2000:]
