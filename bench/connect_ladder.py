"""The connect-rate ladder: what each layer between Daphne and a signed-in stream costs.

``make bench`` compares the project's connect rate with the floor, a bare ASGI app on the
same server. This splits the distance into rungs, each one layer more than the one before,
all under plain ``daphne`` (the same server, the same load client, 50 handshakes in
flight, 0 to ``--streams`` streams in one ramp, the median of ``--rounds`` rounds, every
rung once per round):

1. the floor (``bench/peers/floor_app.py``);
2. Django's own ASGI handler, no middleware, an async view that answers ``retry:`` and
   holds the connection (``bench/ladder/urls.py``);
3. the same under sse's handler;
4. and 5. both with the demo's nine middlewares;
6. sse's handler, the demo's middlewares, a view that reads the signed-in user first;
7. the project's own stream (``/sse/stream/?channel=broadcast``), signed in;
8. the same with a stream token in the query string instead of the session;
9. the same stream view called straight from ASGI, skipping Django's handler and every
   middleware (``bench/ladder/bypass.py``): the ceiling of any path that skips them.

    .venv-bench/bin/python -m bench.connect_ladder [--streams 2000] [--rounds 3]

Rungs 2 and 3 are the least any view served through Django's request path can cost.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.sseload import Load, stream_request
from tests.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PY = str(ROOT / ".venv" / "bin" / "python")
HOST = "127.0.0.1"
SETTINGS = "bench.ladder.settings"


@dataclass(frozen=True)
class Rung:
    name: str
    app: str
    path: str
    handler: str = "sse"  # or "django"
    middleware: bool = True
    signed_in: bool = False
    token: bool = False


_LADDER = "bench.ladder.asgi:application"
_BARE = "/ladder/bare/stream/"
_BYPASS = "bench.ladder.bypass:application"
RUNGS = [
    Rung("floor: bare ASGI app", "bench.peers.floor_app:app", "/"),
    Rung("Django's handler, no middleware", _LADDER, _BARE, "django", False),
    Rung("sse's handler, no middleware", _LADDER, _BARE, "sse", False),
    Rung("Django's handler, demo middleware", _LADDER, _BARE, "django"),
    Rung("sse's handler, demo middleware", _LADDER, _BARE),
    Rung("+ the signed-in user read", _LADDER, "/ladder/user/stream/", signed_in=True),
    Rung("the project's stream, signed in", _LADDER, "/sse/stream/?channel=broadcast", signed_in=True),
    Rung("the project's stream, token", _LADDER, "/sse/stream/?channel=broadcast", token=True),
    Rung("no handler, no middleware: token", _BYPASS, "/sse/stream/?channel=broadcast", token=True),
]


def _env(tmp: Path, rung: Rung | None = None) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "DATABASE_URL": f"sqlite:///{tmp / 'ladder.sqlite3'}",
        "SECRET_KEY": "bench-ladder-secret",
        "DEBUG": "0",
        "SSE_LOG_LEVEL": "WARNING",
    }
    if rung is not None:
        env["LADDER_HANDLER"] = rung.handler
        env["LADDER_MIDDLEWARE"] = "demo" if rung.middleware else "none"
    return env


def _session(tmp: Path) -> tuple[str, str]:
    """Migrate the ladder's database and sign one user in: the session cookie's value, and a
    stream token for ``broadcast`` bound to that session (as the token endpoint mints them)."""
    env = _env(tmp)
    subprocess.run([PROJECT_PY, "-m", "django", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    code = (
        "import django; django.setup()\n"
        "from django.contrib.auth import get_user_model\n"
        "from django.test import Client\n"
        "user = get_user_model().objects.create_user('ladder', password='ladder')\n"
        "from sse.auth.tokens import issue_token\n"
        "client = Client(); client.force_login(user); key = client.cookies['sessionid'].value\n"
        "print(key, issue_token(user, ['broadcast'], session_key=key).token)\n"
    )
    done = subprocess.run(
        [PROJECT_PY, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    key, token = done.stdout.split()
    return key, token


async def _measure(rung: Rung, tmp: Path, session: tuple[str, str], streams: int) -> float:
    port = free_port()
    argv = [PROJECT_PY, "-m", "daphne", "-b", HOST, "-p", str(port), rung.app]
    log = open(tmp / "servers.log", "ab")  # the server's, closed below
    proc = subprocess.Popen(argv, cwd=ROOT, env=_env(tmp, rung), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=60, proc=proc)
        headers = [("Cookie", f"sessionid={session[0]}")] if rung.signed_in else []
        path = f"{rung.path}&token={session[1]}" if rung.token else rung.path
        request = stream_request(HOST, port, path, headers)
        load = Load()
        warm = await load.connect(port, request, 20, concurrency=10, timeout=60)  # imports, first queries
        load.close_all()
        if warm.statuses != {200: 20}:
            raise RuntimeError(f"{rung.name}: warm-up answered {warm.statuses} (see {tmp / 'servers.log'})")
        await asyncio.sleep(1.0)
        result = await load.connect(port, request, streams, concurrency=50, timeout=300)
        load.close_all()
        if result.failed:
            raise RuntimeError(f"{rung.name}: {result.failed} of {streams} failed ({result.statuses})")
        return streams / result.seconds
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {rung.name: [] for rung in RUNGS}
    with tempfile.TemporaryDirectory(prefix="sse-ladder-") as name:
        tmp = Path(name)
        session = _session(tmp)
        started = time.monotonic()
        for _ in range(args.rounds):
            for rung in RUNGS:
                rates[rung.name].append(await _measure(rung, tmp, session, args.streams))
    floor = statistics.median(rates[RUNGS[0].name])
    print(
        f"connect rate, 0 to {args.streams} streams under plain daphne, median of {args.rounds} rounds "
        f"({time.monotonic() - started:.0f} s):"
    )
    print(f"{'rung':40} {'streams/s':>10} {'/floor':>7} {'ms per stream':>14}  rounds")
    for rung in RUNGS:
        rate = statistics.median(rates[rung.name])
        each = ", ".join(f"{r:.0f}" for r in rates[rung.name])
        print(f"{rung.name:40} {rate:>10.0f} {rate / floor:>6.2f}x {1000 / rate:>14.3f}  {each}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
