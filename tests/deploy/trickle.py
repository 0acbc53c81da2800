"""Slow clients for tests/deploy: requests sent a byte every ``GAP_S`` seconds.

:func:`crowd` runs ``CLIENTS`` of them at once and returns what each was answered before its
connection closed: the answer's bytes (``b""``: closed without one), ``b"reset"``, or
``b"held"`` if the connection was still open after ``ANSWER_WITHIN_S``. Only outcomes are
read, never how long they took: the machine is busy.
"""

from __future__ import annotations

import asyncio

__all__ = ["ANSWER_WITHIN_S", "CLIENTS", "GAP_S", "SLOW_BODY_HEAD", "SLOW_HEADERS", "crowd"]

CLIENTS = 10
GAP_S = 0.5
ANSWER_WITHIN_S = 45.0  # 15 times the tests' 3 s timeouts: a client still waiting then is held

SLOW_BODY_HEAD = (
    b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 4096\r\n\r\n"
)
SLOW_HEADERS = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 4000 + b"\r\n\r\n"


async def _trickle(port: int, head: bytes, payload: bytes) -> bytes:
    """Send ``head``, then ``payload`` a byte every GAP_S s; what the server answered before it
    closed the connection (``b"held"``: still open after ANSWER_WITHIN_S)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        answer = asyncio.ensure_future(reader.read())  # to the end: the server closes
        for byte in payload:
            writer.write(bytes([byte]))
            done, _ = await asyncio.wait([answer], timeout=GAP_S)
            if done:
                break
        try:
            return await asyncio.wait_for(answer, ANSWER_WITHIN_S)
        except TimeoutError:
            return b"held"
    except ConnectionError:
        return b"reset"
    finally:
        writer.close()


async def _bounded(port: int, head: bytes, payload: bytes) -> bytes:
    try:
        return await asyncio.wait_for(_trickle(port, head, payload), ANSWER_WITHIN_S)
    except TimeoutError:
        return b"held"


async def crowd(port: int, head: bytes, payload: bytes, clients: int = CLIENTS) -> list[bytes]:
    """``clients`` connections sending ``head`` at once, then ``payload`` a byte every GAP_S s."""
    return await asyncio.gather(*(_bounded(port, head, payload) for _ in range(clients)))
