"""Slow clients against a running server: how many it still holds after a while.

``python -m bench.slow_clients --port 8000 --count 300 --hold 50`` opens ``count``
connections that send their request headers one byte every ``--gap`` seconds (never
finishing them), and ``count`` POSTs whose headers arrive at once and whose body
(``Content-Length: 4096``) then comes one byte every ``--gap`` seconds. After ``--hold``
seconds it prints, for each kind, how many connections are still open and what the
closed ones were answered (a status line, or nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
from dataclasses import dataclass, field

HEADERS = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\nX-Padding: " + b"a" * 4000 + b"\r\n\r\n"
BODY_LENGTH = 4096


def post_head(path: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {BODY_LENGTH}\r\n\r\n"
    ).encode()


@dataclass
class Outcome:
    open: int = 0
    refused: int = 0
    answers: collections.Counter[str] = field(default_factory=collections.Counter)


async def _trickle(host: str, port: int, head: bytes, payload: bytes, gap: float, outcome: Outcome) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        outcome.refused += 1
        return
    outcome.open += 1
    try:
        writer.write(head)
        reading = asyncio.ensure_future(reader.read(256))
        for byte in payload:
            writer.write(bytes([byte]))
            await writer.drain()
            done, _ = await asyncio.wait([reading], timeout=gap)
            if done:
                break
        answer = await reading
        first = answer.split(b"\r\n", 1)[0].decode(errors="replace")
        outcome.answers[first or "closed without an answer"] += 1
    except (ConnectionError, OSError):
        outcome.answers["reset"] += 1
    finally:
        outcome.open -= 1
        writer.close()


async def measure(host: str, port: int, count: int, hold: float, gap: float, path: str) -> dict[str, object]:
    headers, bodies = Outcome(), Outcome()
    tasks = [
        asyncio.ensure_future(_trickle(host, port, b"", HEADERS, gap, headers)) for _ in range(count)
    ] + [
        asyncio.ensure_future(_trickle(host, port, post_head(path), b"a" * BODY_LENGTH, gap, bodies))
        for _ in range(count)
    ]
    await asyncio.sleep(hold)
    result = {
        kind: {"still_open": o.open, "refused": o.refused, "answers": dict(o.answers)}
        for kind, o in (("headers", headers), ("bodies", bodies))
    }
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--count", type=int, default=100, help="connections of each kind")
    parser.add_argument("--hold", type=float, default=50.0, help="seconds before counting")
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between two bytes")
    parser.add_argument("--path", default="/accounts/login/", help="where the slow bodies are POSTed")
    args = parser.parse_args()
    result = asyncio.run(measure(args.host, args.port, args.count, args.hold, args.gap, args.path))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
