"""Replays of one user's streams from early ids, and what they cost everyone else (issue 26, item 1).

``.venv/bin/python -m bench.replay_storm [--clients 50 --rounds 3] [--events 10000] [--pad 250]``

The demo project (tests.site_settings: project.settings with a cheap password hasher) under
``python -m sse.daphne`` on a fresh SQLite file. Three channels alice may read
(``broadcast``, ``chat.room.lobby``, ``notifications.user.<alice>``) are filled with the
retained maximum of events (``--events`` each, SSE_LOG_MAX_EVENTS_PER_CHANNEL's default),
published round-robin so their publish order is known. Then ``--clients`` clients of alice
each resume ``--rounds`` times, one after the other, from distinct early ids
(``<log>-<tag>:0.<n>.0``: every retained event of the three channels but the first n of
one) and read as fast as the server sends; a client the server turns away (a cap) comes
back after its ``retry:`` with its last id, as a browser does.

Printed: the bytes sent and the time; the server's RSS before the replays, at their peak
(sampled every 20 ms), right after and ``--settle`` seconds later; bob's latency on
``GET /api/notifications/`` (a probe process of its own, one request at a time) before,
during and after; and whether every client got every event exactly once, in order.
Nothing is asserted: tests/delivery/test_replay_budget.py asserts the memory bound.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench.djlogin import login
from tests.delivery.client import Replay, open_stream, read_until
from tests.servers import PYTHON, ROOT, SITE_SETTINGS, DaphneServer, manage, prepare_database, project_env

MIB = 1024 * 1024


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = rss(pid)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.02):
            try:
                self.peak = max(self.peak, rss(self.pid))
            except (OSError, RuntimeError):
                return


def probe(port: int, cookie: str, stop_file: str) -> None:
    """``python -m bench.replay_storm --probe PORT COOKIE STOP``: GET /api/notifications/ in turn,
    printing ``<time.time()> <seconds>`` per request, until the stop file exists."""
    conn: http.client.HTTPConnection | None = None
    while not os.path.exists(stop_file):
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        started = time.monotonic()
        try:
            conn.request("GET", "/api/notifications/", headers={"Cookie": cookie})
            answer = conn.getresponse()
            answer.read()
            if answer.status != 200:
                print("status", answer.status, flush=True)
        except (OSError, http.client.HTTPException) as exc:
            print("error", repr(exc), flush=True)
            conn.close()
            conn = None
            continue
        print(f"{time.time():.3f} {time.monotonic() - started:.4f}", flush=True)
        time.sleep(0.05)


def logged(db: Path, channels: list[str]) -> list[tuple[str, int, int]]:
    """(channel, seq, i) of every event of the publisher kept in the log, in publish order."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT channel, seq, data FROM sse_storedevent"
            " WHERE channel IN (?, ?, ?) AND event = 'test' ORDER BY id",
            channels,
        ).fetchall()
    return [(channel, seq, json.loads(data)["i"]) for channel, seq, data in rows]


def expected_numbers(rows: list[tuple[str, int, int]], after: dict[str, int]) -> list[int]:
    return [i for channel, seq, i in rows if seq > after[channel]]


def summary(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"median {statistics.median(ordered) * 1000:6.1f} ms, p95 {p95 * 1000:6.1f} ms, "
        f"max {ordered[-1] * 1000:6.1f} ms ({len(ordered)} requests)"
    )


async def crowd(
    url: str,
    channels: list[str],
    cookie: str,
    prefix: str,
    until_id: str,
    clients: int,
    rounds: int,
    firsts: list[int],
    written: list[dict[int, str]],
) -> list[tuple[list[int], Replay]]:
    async def client(n: int) -> list[tuple[list[int], Replay]]:
        done = []
        for r in range(rounds):
            # Every retained event but the first few of one channel: each resume from an id of
            # its own (a position with the check of the event it stands on, as ids write it).
            start = [firsts[0] - 1, firsts[1] + n + r * clients, firsts[2] - 1]
            at = [written[i][seq] for i, seq in enumerate(start)]
            replay = Replay()
            await read_until(
                url,
                channels,
                cookie=cookie,
                last_event_id=f"{prefix}:{'.'.join(at)}",
                until_id=until_id,
                replay=replay,
                tag="p",
            )
            done.append((start, replay))
        return done

    results = await asyncio.gather(*(client(n) for n in range(clients)))
    return [item for one in results for item in one]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=10000, help="per channel (the retained maximum)")
    parser.add_argument("--pad", type=int, default=250, help="filler bytes per event")
    parser.add_argument("--user-cap", default="50", help="SSE_MAX_STREAMS_PER_USER (the demo's 50; 0: none)")
    parser.add_argument("--baseline", type=float, default=5.0, help="seconds of probing before")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after, before the last RSS")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    parser.add_argument("--settings", default=SITE_SETTINGS, help="the server's settings module")
    parser.add_argument("--probe", nargs=3, metavar=("PORT", "COOKIE", "STOP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(int(args.probe[0]), args.probe[1], args.probe[2])
        return

    tmp = Path(tempfile.mkdtemp(prefix="replay-storm-"))
    extra = dict(item.split("=", 1) for item in args.env)
    env = project_env(
        f"sqlite:///{tmp / 'db.sqlite3'}",
        settings=args.settings,
        SSE_MAX_STREAMS_PER_USER=args.user_cap,
        SSE_LOG_LEVEL="WARNING",
        **extra,
    )
    prepare_database(env)
    alice = manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth.models import User; print(User.objects.get(username='alice').pk)",
    ).stdout.split()[-1]
    channels = sorted(["broadcast", "chat.room.lobby", f"notifications.user.{alice}"])
    total = 3 * args.events
    started = time.monotonic()
    fill = ["--tag", "p", "--count", str(total), "--cycle", "--pad", str(args.pad)]
    subprocess.run(
        [PYTHON, "-m", "tests.delivery.publisher", *fill, *channels],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=1800,
    )
    # Retention applied now, as the server would: what the log keeps is what a replay reads.
    manage(env, "sse_trim")
    rows = logged(tmp / "db.sqlite3", channels)
    firsts = [min(seq for c, seq, _ in rows if c == name) for name in channels]
    print(f"filled {', '.join(channels)}: {args.events} events each in {time.monotonic() - started:.0f}s")

    server = DaphneServer(env, log_path=tmp / "daphne.log").start()
    stop_file = tmp / "stop-probe"
    probe_proc: subprocess.Popen[str] | None = None
    try:
        pid = server.proc.pid  # type: ignore[union-attr]
        alice_cookie = "sessionid=" + login(server.url, "alice")["sessionid"]
        bob_cookie = "sessionid=" + login(server.url, "bob")["sessionid"]

        async def head_id() -> str:
            stream = await open_stream(server.url, channels, cookie=alice_cookie)
            try:
                async for item in stream.items():
                    if item.id:
                        return item.id
            finally:
                stream.abort()
            raise RuntimeError("no opening id")

        until_id = asyncio.run(head_id())
        prefix = until_id.rsplit(":", 1)[0]
        # Warm the replay path once, with one whole replay: its ids give the positions (with
        # their checks) the crowd resumes from.
        warm = Replay(ids=[])
        asyncio.run(
            read_until(
                server.url,
                channels,
                cookie=alice_cookie,
                last_event_id=f"{prefix}:{'.'.join('0' for _ in channels)}",
                until_id=until_id,
                replay=warm,
                tag="p",
            )
        )
        written: list[dict[int, str]] = [{0: "0"} for _ in channels]
        for event_id in warm.ids or []:
            for i, text in enumerate(event_id.rsplit(":", 1)[1].split(".")):
                written[i][int(text.split("_")[0])] = text
        probe_proc = subprocess.Popen(
            [PYTHON, "-m", "bench.replay_storm", "--probe", str(server.port), bob_cookie, str(stop_file)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(args.baseline)
        before = rss(pid)
        sampler = Sampler(pid)
        sampler.start()
        t0 = time.time()
        results = asyncio.run(
            crowd(
                server.url,
                channels,
                alice_cookie,
                prefix,
                until_id,
                args.clients,
                args.rounds,
                firsts,
                written,
            )
        )
        t1 = time.time()
        right_after = rss(pid)
        time.sleep(args.settle)
        sampler.stopped.set()
        sampler.join()
        after = rss(pid)
        stop_file.touch()
        out, _ = probe_proc.communicate(timeout=120)
    finally:
        stop_file.touch()
        if probe_proc is not None and probe_proc.poll() is None:
            probe_proc.kill()
        server.stop()

    latencies: dict[str, list[float]] = {"before": [], "during": [], "after": []}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 2 or parts[0] in ("status", "error"):
            print("probe:", line)
            continue
        at, seconds = float(parts[0]), float(parts[1])
        phase = "before" if at < t0 else "during" if at <= t1 else "after"
        latencies[phase].append(seconds)

    sent = sum(r.bytes for _, r in results)
    bad = 0
    for start, replay in results:
        expected = expected_numbers(rows, dict(zip(channels, start, strict=True)))
        if replay.problems or replay.numbers != expected:
            bad += 1
            if bad <= 3:
                got = replay.numbers
                print(
                    f"client from {start}: {len(got)} of {len(expected)} events, "
                    f"problems {replay.problems[:3]}"
                )
    turned_away = sum(r.turned_away for _, r in results)
    print(
        f"{len(results)} replays ({args.clients} clients x {args.rounds}) of ~{total} events each: "
        f"{sent / 1e6:,.0f} MB sent in {t1 - t0:.1f}s; {turned_away} streams turned away and resumed"
    )
    print(
        f"server RSS: before {before / MIB:.0f} MiB, peak {sampler.peak / MIB:.0f} MiB "
        f"(+{(sampler.peak - before) / MIB:.0f}), right after {right_after / MIB:.0f} MiB, "
        f"{args.settle:.0f}s later {after / MIB:.0f} MiB (+{(after - before) / MIB:.0f})"
    )
    for phase, samples in latencies.items():
        print(f"bob's GET /api/notifications/ {phase:6}: {summary(samples)}")
    print("every client got every event exactly once, in order" if not bad else f"{bad} clients got it wrong")


if __name__ == "__main__":
    main()
