"""Slow clients against a running server: how many it still holds after a while.

``python -m bench.slow_clients --port 8000 --headers 1400 --bodies 300 --hold 50`` opens
``--headers`` connections that send their request headers one byte every ``--gap`` seconds
(never finishing them), and ``--bodies`` POSTs whose headers arrive at once and whose body
(``Content-Length: 4096``) then comes one byte every ``--gap`` seconds (``--count`` sets
both). After ``--hold`` seconds it prints, for each kind, how many connections are still
open and what the closed ones were answered (a status line, or nothing), and, with
``--server-port`` (the server's own port when ``--port`` is a proxy's, such as nginx from
``python -m bench.nginx_site``), how many connections the server itself holds then.
Each connection is a file descriptor here and in the server: ``ulimit -n`` must allow them.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
from dataclasses import dataclass, field
from pathlib import Path

HEADERS = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\nX-Padding: " + b"a" * 4000 + b"\r\n\r\n"
BODY_LENGTH = 4096


def post_head(path: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {BODY_LENGTH}\r\n\r\n"
    ).encode()


def established(port: int) -> int:
    """How many connections the server listening on ``port`` (this host) holds open (/proc/net/tcp)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            count += state == "01" and int(local.rsplit(":", 1)[1], 16) == port  # 01: ESTABLISHED
    return count


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


async def measure(args: argparse.Namespace) -> dict[str, object]:
    host, port, gap = args.host, args.port, args.gap
    headers, bodies = Outcome(), Outcome()
    tasks = [
        asyncio.ensure_future(_trickle(host, port, b"", HEADERS, gap, headers)) for _ in range(args.headers)
    ] + [
        asyncio.ensure_future(_trickle(host, port, post_head(args.path), b"a" * BODY_LENGTH, gap, bodies))
        for _ in range(args.bodies)
    ]
    await asyncio.sleep(args.hold)
    result: dict[str, object] = {
        kind: {"clients": n, "still_open": o.open, "refused": o.refused, "answers": dict(o.answers)}
        for kind, o, n in (("headers", headers, args.headers), ("bodies", bodies, args.bodies))
    }
    if args.server_port:
        result["server_connections"] = established(args.server_port)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--count", type=int, default=100, help="connections of each kind")
    parser.add_argument("--headers", type=int, default=None, help="slow header senders (default: --count)")
    parser.add_argument("--bodies", type=int, default=None, help="slow body senders (default: --count)")
    parser.add_argument("--server-port", type=int, default=None, help="count the connections it holds")
    parser.add_argument("--hold", type=float, default=50.0, help="seconds before counting")
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between two bytes")
    parser.add_argument("--path", default="/accounts/login/", help="where the slow bodies are POSTed")
    args = parser.parse_args()
    args.headers = args.count if args.headers is None else args.headers
    args.bodies = args.count if args.bodies is None else args.bodies
    result = asyncio.run(measure(args))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
