"""``make bench``: this project against its peers, in one run, on this machine.

Run from .venv-bench (``.venv-bench/bin/python -m bench.run [--quick]``). The
project's servers run from .venv, the peers from .venv-bench; this process is
the load client. Every socket is on 127.0.0.1.

Per system and per N open streams: the time each client received a broadcast
(p50, p99, time-to-all, from just before the publish request went out), the
connect rate, server RSS per open stream and thread count (/proc). Then one
stream's throughput (a burst of events), and publish() calls per second with the
durable log against django-eventstream's send_event with its database storage.

Beside them: the connect rate from 0 to 2,000 and 5,000 streams of the floors (a
bare ASGI app on Daphne and on uvicorn), the project with session and with token
auth and the peers; a reconnect storm (N resuming clients, SIGTERM, a new process);
ordinary requests over the server against Django's test client; with
``--cluster 1,2`` nginx + P Daphnes + Redis, with Redis commands per published
event. The targets section checks issue 13's targets and the earlier ones.
Writes bench/results/bench-<time>.json, bench/results/latest.json and
bench/results/time-to-all.png, and prints the tables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.cluster import nofile_limit, raise_nofile
from bench.djlogin import login
from bench.loadshards import ShardedLoad, client_processes
from bench.sseload import Load, Storm, http_request, keepalive_rate, percentile, stream_request
from tests.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PROJECT_PY = str(ROOT / ".venv" / "bin" / "python")
BENCH_PY = sys.executable
HOST = "127.0.0.1"


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS (KiB) and Threads of a process, from /proc."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Threads"):
                out[key] = int(value.split()[0])
    except FileNotFoundError:
        pass
    return out


@dataclass
class Server:
    """One system under test: its processes, and how to stream, publish and burst."""

    key: str
    label: str
    stream_path: str
    publish_path: str
    burst_path: str | None
    max_streams: int
    pids: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    port: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    publish_body: Callable[[int], dict[str, Any]] = lambda n: {"event": "bench", "data": {"b": n}}
    stop_hook: Callable[[], None] | None = None
    redis_url: str = ""  # a cluster's redis-server: commands per published event are counted
    workdir: Path | None = None  # a cluster's nginx config and logs

    def status(self) -> dict[str, int]:
        rss = threads = 0
        for pid in self.pids:
            st = proc_status(pid)
            rss += st.get("VmRSS", 0)
            threads += st.get("Threads", 0)
        return {"rss_kib": rss, "threads": threads}

    async def publish(self, number: int) -> int:
        status, body = await http_request(
            self.port, "POST", self.publish_path, body=self.publish_body(number), headers=self.headers
        )
        if status not in (200, 201):
            raise RuntimeError(f"{self.key}: publish answered {status}: {body[:200]!r}")
        return status

    async def burst(self, start: int, count: int) -> None:
        assert self.burst_path is not None
        status, body = await http_request(
            self.port, "POST", f"{self.burst_path}?start={start}&n={count}", headers=self.headers, timeout=600
        )
        if status not in (200, 201):
            raise RuntimeError(f"{self.key}: burst answered {status}: {body[:200]!r}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.stop_hook is not None:
            self.stop_hook()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VIRTUAL_ENV"))}
    env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", DEBUG="0", SECRET_KEY="bench-secret-key")
    env.update(extra)
    return env


def _spawn(argv: list[str], env: dict[str, str], log: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    wait_for_port(port, timeout=60, proc=proc)
    return proc


def _run(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _project_env(tmp: Path) -> dict[str, str]:
    return _env(
        DJANGO_SETTINGS_MODULE="bench.projectbench.settings",
        DATABASE_URL=f"sqlite:///{tmp / 'project.sqlite3'}",
        SSE_MAX_STREAMS_PER_USER="0",
        SSE_MAX_STREAMS_PER_PROCESS="0",
        SSE_LOG_LEVEL="WARNING",
    )


async def start_project(
    tmp: Path, max_streams: int, channel: str = "broadcast", server_name: str = "daphne"
) -> Server:
    env = _project_env(tmp)
    _run([PROJECT_PY, "-m", "django", "migrate", "--noinput", "-v0"], env)
    _run([PROJECT_PY, "-m", "django", "seed_demo"], env)
    port = free_port()
    if server_name == "uvicorn":
        # As the floor on uvicorn runs: uvloop and httptools, no access log.
        argv = [PROJECT_PY, *uvicorn_argv("project.asgi:application", port, fast=True)[1:]]
    else:
        argv = [
            PROJECT_PY,
            "-m",
            "sse.daphne",
            "-b",
            HOST,
            "-p",
            str(port),
            "project.asgi:application",
        ]
    key = "project" if server_name == "daphne" else f"project-{server_name}"
    proc = _spawn(argv, env, tmp / f"{key}.log", port)
    throttled = channel != "broadcast"
    server = Server(
        "project-throttled" if throttled else key,
        "this project, throttled channel" if throttled else f"this project ({server_name.capitalize()})",
        f"/sse/stream/?channel={channel}",
        "/bench/publish/",
        None if throttled else "/bench/burst/",  # a burst to a throttled channel is conflated
        max_streams,
        [proc.pid],
        [proc],
        port,
    )
    await _sign_in(server, f"http://{HOST}:{port}")
    server.publish_body = lambda n: {"channel": channel, "event": "bench", "data": {"b": n}}
    return server


async def _sign_in(server: Server, base_url: str) -> None:
    # The admin's session opens every stream (no per-user cap here) and publishes.
    cookies = await asyncio.to_thread(login, base_url, "admin")
    server.headers = [
        ("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items())),
        ("X-CSRFToken", cookies["csrftoken"]),
    ]


async def start_cluster(tmp: Path, max_streams: int, processes: int, streams: int) -> Server:
    """nginx + ``processes`` Daphnes + Redis, nginx sized for ``streams``; logs kept in ``tmp``."""
    port = free_port()
    workdir = tmp / f"cluster-{processes}"
    argv = [
        PROJECT_PY,
        "-m",
        "bench.cluster",
        "--processes",
        str(processes),
        "--port",
        str(port),
        "--settings",
        "bench.projectbench.settings",
        "--streams",
        str(streams),
        "--workdir",
        str(workdir),
    ]
    env = _env(SSE_LOG_LEVEL="WARNING")
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=open(tmp / "cluster.log", "ab")
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 180)
    if not line:
        raise RuntimeError("the cluster did not start: see " + str(tmp / "cluster.log"))
    info = json.loads(line)
    pids = [d["pid"] for d in info["daphne"]] + [info["nginx_pid"]]
    server = Server(
        f"cluster-{processes}",
        f"cluster: nginx + {processes} Daphne + Redis",
        "/sse/stream/?channel=broadcast",
        "/bench/publish/",
        None,
        max_streams,
        pids,
        [proc],
        port,
    )
    await _sign_in(server, info["url"])
    server.publish_body = lambda n: {"channel": "broadcast", "event": "bench", "data": {"b": n}}
    server.redis_url = info["redis"]
    server.workdir = workdir
    nginx = info["nginx"]
    print(
        f"  nginx: {nginx['workers']} workers x {nginx['connections']} connections, "
        f"worker_rlimit_nofile {nginx['nofile']} (sized for {streams} streams)",
        flush=True,
    )
    return server


def nginx_errors(workdir: Path) -> list[str]:
    """The distinct messages of a cluster's nginx error log, each with its count."""
    log = workdir / "error.log"
    if not log.exists():
        return []
    counts: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines():
        # "2026/01/01 00:00:00 [crit] 123#123: *45 message, client: ...": the level and message.
        match = re.match(r"\S+ \S+ (\[\w+\]) \d+#\d+: (?:\*\d+ )?([^,]*)", line)
        key = " ".join(match.groups()) if match else line
        counts[key] = counts.get(key, 0) + 1
    return [f"{n} x {message}" for message, n in counts.items()]


def uvicorn_argv(app: str, port: int, *, fast: bool) -> list[str]:
    """uvicorn serving ``app`` on ``port``: uvloop and httptools when ``fast``, else asyncio and h11."""
    impl = ["--loop", "uvloop", "--http", "httptools"] if fast else ["--loop", "asyncio", "--http", "h11"]
    return [
        BENCH_PY, "-m", "uvicorn", app, "--host", HOST, "--port", str(port),
        "--log-level", "warning", "--no-access-log", "--backlog", "4096", *impl,
    ]  # fmt: skip


async def start_starlette(tmp: Path, max_streams: int, fast: bool) -> Server:
    port = free_port()
    argv = uvicorn_argv("bench.peers.starlette_app:app", port, fast=fast)
    key = "sse-starlette" if fast else "sse-starlette-h11"
    proc = _spawn(argv, _env(), tmp / f"{key}.log", port)
    label = "sse-starlette (uvicorn, uvloop+httptools)" if fast else "sse-starlette (uvicorn, asyncio+h11)"
    return Server(key, label, "/stream/", "/publish/", "/burst/", max_streams, [proc.pid], [proc], port)


async def start_djpeer(tmp: Path, max_streams: int, which: str) -> Server:
    env = _env(DJANGO_SETTINGS_MODULE="bench.peers.djpeers.settings", BENCH_DB=str(tmp / f"{which}.sqlite3"))
    _run([BENCH_PY, "-m", "django", "migrate", "--noinput", "-v0"], env)
    port = free_port()
    argv = [BENCH_PY, "-m", "daphne", "-b", HOST, "-p", str(port), "bench.peers.djpeers.asgi:application"]
    proc = _spawn(argv, env, tmp / f"{which}.log", port)
    if which == "django-eventstream":
        return Server(
            which,
            "django-eventstream (Daphne, DB storage)",
            "/events/",
            "/es/publish/",
            "/es/burst/",
            max_streams,
            [proc.pid],
            [proc],
            port,
        )
    return Server(
        which,
        "Django view, channel per stream (Daphne)",
        "/layer/stream/",
        "/layer/publish/",
        "/layer/burst/",
        max_streams,
        [proc.pid],
        [proc],
        port,
    )


# -- measuring -----------------------------------------------------------------


class Counter:
    def __init__(self) -> None:
        self.value = 0

    def next(self) -> int:
        self.value += 1
        return self.value


async def broadcast(
    load: Load | ShardedLoad, server: Server, numbers: Counter, timeout: float
) -> dict[str, Any]:
    if server.key == "project-throttled":
        # A window (1/5 s) apart: each broadcast goes out at once, so what is measured is the
        # throttle's cost, not the wait it imposes by design on events closer together.
        await asyncio.sleep(0.25)
    number = numbers.next()
    await load.refresh()
    receivers = load.open_count
    t0 = time.perf_counter()
    await server.publish(number)
    published = time.perf_counter() - t0
    complete = await load.wait_for(number, receivers, timeout)
    times = [t - t0 for t in load.arrivals[number]]
    return {
        "receivers": receivers,
        "received": len(times),
        "complete": complete,
        "publish_request_ms": published * 1000,
        "p50_ms": percentile(times, 50) * 1000 if times else None,
        "p99_ms": percentile(times, 99) * 1000 if times else None,
        "all_ms": max(times) * 1000 if complete and times else None,
        # First to last client: the fan-out alone, without the publish request's own time.
        "spread_ms": (max(times) - min(times)) * 1000 if complete and times else None,
    }


async def measure_fanout(
    server: Server, ns: list[int], broadcasts: int, timeout: float, numbers: Counter, deadline: float
) -> dict[str, Any]:
    # One client process while the largest N fits in its file limit; else several, for every N.
    shards = client_processes(max((n for n in ns if n <= server.max_streams), default=0) + 10)
    load: Load | ShardedLoad = Load() if shards == 1 else await ShardedLoad(shards).start()
    request = stream_request(HOST, server.port, server.stream_path, server.headers)
    out: dict[str, Any] = {"points": [], "client_processes": shards}
    if shards > 1:
        print(f"  load client: {shards} processes (RLIMIT_NOFILE {raise_nofile()} each)", flush=True)
    try:
        # Warm up with a few streams so the baseline includes loaded code paths.
        warm = await load.connect(server.port, request, 10)
        if warm.opened < 10:
            raise RuntimeError(f"{server.key}: warm-up streams failed: {warm}")
        await asyncio.sleep(0.5)
        for _ in range(2):
            await broadcast(load, server, numbers, timeout)
        await asyncio.sleep(0.5)
        base = server.status()
        base_streams = load.open_count
        out["baseline"] = {**base, "streams": base_streams}
        for n in ns:
            if n > server.max_streams:
                break
            if time.monotonic() > deadline:
                out["stopped"] = f"time budget spent before N={n}"
                print(f"  {server.key}: time budget spent, N={n} skipped", flush=True)
                break
            want = n - load.open_count
            result = await load.connect(server.port, request, want, concurrency=50, timeout=300)
            await asyncio.sleep(1.0)
            status = server.status()
            await load.refresh()
            open_now = load.open_count
            point: dict[str, Any] = {
                "n": n,
                "open": open_now,
                "connect": {
                    "opened": result.opened,
                    "failed": result.failed,
                    "seconds": result.seconds,
                    "per_second": result.rate,
                    "statuses": result.statuses,
                },
                **status,
                "kib_per_stream": (status["rss_kib"] - base["rss_kib"]) / max(1, open_now - base_streams),
                "broadcasts": [],
            }
            commands_before = await redis_commands(server.redis_url) if server.redis_url else 0
            for _ in range(broadcasts):
                point["broadcasts"].append(await broadcast(load, server, numbers, timeout))
                # A system that takes seconds per broadcast (O(N^2)) gets fewer of them.
                if (point["broadcasts"][-1]["all_ms"] or timeout * 1000) > 5000 and len(
                    point["broadcasts"]
                ) >= 2:
                    break
                await asyncio.sleep(0.3)
            if server.redis_url:
                # Everything redis-server ran while the broadcasts went out, per broadcast
                # (the publish, the fan-out to every process, anything periodic meanwhile).
                commands = await redis_commands(server.redis_url) - commands_before - 1
                point["redis_commands_per_event"] = commands / len(point["broadcasts"])
            done = [b for b in point["broadcasts"] if b["complete"]]
            await load.refresh()
            point["complete"] = len(done) == len(point["broadcasts"]) and open_now >= n
            # Events received over events owed (each broadcast to every stream open when it went
            # out); streams closed since the run began (refused ones too); broadcasts a stream
            # received twice or after a later one.
            point["delivered"] = sum(b["received"] for b in point["broadcasts"])
            point["expected"] = sum(b["receivers"] for b in point["broadcasts"])
            point["streams_lost"] = load.lost
            point["repeats"] = load.repeats
            for key in ("p50_ms", "p99_ms", "all_ms", "spread_ms"):
                values = [b[key] for b in done if b[key] is not None]
                point[key] = statistics.median(values) if values else None
            point["threads_end"] = server.status()["threads"]
            out["points"].append(point)
            print(
                f"  {server.key:20} N={n:>6} open={open_now:>6} all={_ms(point['all_ms'])} "
                f"p50={_ms(point['p50_ms'])} p99={_ms(point['p99_ms'])} "
                f"connect={result.rate:7.0f}/s rss/stream={point['kib_per_stream']:.1f}KiB "
                f"threads={status['threads']} delivered={point['delivered']}/{point['expected']} "
                f"lost-streams={load.lost} repeats={load.repeats}",
                flush=True,
            )
            if not point["complete"]:
                print(f"  {server.key}: not every stream got every broadcast; stopping its ramp", flush=True)
                break
    finally:
        if isinstance(load, ShardedLoad):
            await load.stop()
        else:
            load.close_all()
    return out


async def measure_throughput(server: Server, count: int, numbers: Counter, timeout: float) -> dict[str, Any]:
    if server.burst_path is None:
        return {}
    load = Load()
    request = stream_request(HOST, server.port, server.stream_path, server.headers)
    try:
        result = await load.connect(server.port, request, 1)
        if result.opened != 1:
            return {"error": f"stream failed: {result}"}
        await asyncio.sleep(0.5)
        start = numbers.value + 1
        numbers.value += count
        t0 = time.perf_counter()
        burst = asyncio.ensure_future(server.burst(start, count))
        await load.wait_for(start + count - 1, 1, timeout)
        await asyncio.wait_for(burst, timeout)
        await asyncio.sleep(0.5)
        got = sorted(k for k in range(start, start + count) if load.arrivals.get(k))
        if not got:
            return {"sent": count, "received": 0}
        first = load.arrivals[got[0]][0]
        last = max(load.arrivals[k][0] for k in got)
        span = max(last - first, 1e-9)
        return {
            "sent": count,
            "received": len(got),
            "seconds_first_to_last": span,
            "events_per_second": len(got) / span,
            "end_to_end_seconds": last - t0,
            "end_to_end_per_second": len(got) / (last - t0),
        }
    finally:
        load.close_all()


def measure_publish_rate(tmp: Path, count: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    env = _env(
        DJANGO_SETTINGS_MODULE="project.settings",
        DATABASE_URL=f"sqlite:///{tmp / 'rate.sqlite3'}",
        SSE_LOG_LEVEL="WARNING",
    )
    _run([PROJECT_PY, "-m", "django", "migrate", "--noinput", "-v0"], env)
    out["project"] = json.loads(_run([PROJECT_PY, "-m", "bench.publish_rate", "project", str(count)], env))
    env = _env(DJANGO_SETTINGS_MODULE="bench.peers.djpeers.settings", BENCH_DB=str(tmp / "rate-es.sqlite3"))
    _run([BENCH_PY, "-m", "django", "migrate", "--noinput", "-v0"], env)
    out["django-eventstream"] = json.loads(
        _run([BENCH_PY, "-m", "bench.publish_rate", "eventstream", str(count)], env)
    )
    return out


async def start_floor(tmp: Path, max_streams: int, server_name: str) -> Server:
    """The bare ASGI app (bench/peers/floor_app.py) on Daphne or on uvicorn: connect rate only."""
    port = free_port()
    if server_name == "daphne":
        argv = [BENCH_PY, "-m", "daphne", "-b", HOST, "-p", str(port), "bench.peers.floor_app:app"]
    else:
        argv = uvicorn_argv("bench.peers.floor_app:app", port, fast=True)
    key = f"floor-{server_name}"
    proc = _spawn(argv, _env(), tmp / f"{key}.log", port)
    label = f"bare ASGI app on {'Daphne' if server_name == 'daphne' else 'uvicorn (uvloop+httptools)'}"
    return Server(key, label, "/", "", None, max_streams, [proc.pid], [proc], port)


async def measure_connect(
    server: Server, ns: list[int], headers: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    """Streams opened per second, 50 handshakes in flight, from 0 to each N in turn (one ramp).

    The rate at N is N over the time from the first handshake until the Nth stream answered.
    """
    # The streams of the previous measurement were just closed: let the server drop them first.
    await asyncio.sleep(2.0)
    load = Load()
    request = stream_request(
        HOST, server.port, server.stream_path, server.headers if headers is None else headers
    )
    out: dict[str, Any] = {"rates": {}, "failed": 0, "statuses": {}}
    elapsed = 0.0
    try:
        for n in ns:
            want = n - load.open_count
            result = await load.connect(server.port, request, want, concurrency=50, timeout=300)
            elapsed += result.seconds
            out["failed"] += result.failed
            for status, count in result.statuses.items():
                out["statuses"][status] = out["statuses"].get(status, 0) + count
            opened = load.open_count
            out["rates"][n] = opened / elapsed if elapsed else None
            if opened < n:
                out["stopped"] = f"{opened} of {n} opened"
                break
    finally:
        load.close_all()
    await asyncio.sleep(2.0)  # let the server drop the closed streams before the next measurement
    return out


async def mint_token(server: Server, channels: list[str]) -> str:
    """A stream token from POST /api/sse/tokens/, with the signed-in session."""
    status, body = await http_request(
        server.port, "POST", "/api/sse/tokens/", body={"channels": channels}, headers=server.headers
    )
    if status != 201:
        raise RuntimeError(f"token request answered {status}: {body[:200]!r}")
    return str(json.loads(body)["token"])


ORDINARY = {
    "GET /api/notifications/": ("GET", "/api/notifications/", None),
    "POST /api/sse/publish/": (
        "POST",
        "/api/sse/publish/",
        {"channel": "broadcast", "event": "bench", "data": {"ordinary": 1}},
    ),
    "GET /notifications/": ("GET", "/notifications/", None),
}


async def measure_ordinary(server: Server, tmp: Path, seconds: float) -> dict[str, Any]:
    """The three ordinary requests over the server (8 keep-alive clients), then through the test client."""
    out: dict[str, Any] = {"server": {}, "test_client": {}}
    for name, (method, path, body) in ORDINARY.items():
        out["server"][name] = await keepalive_rate(
            server.port, method, path, body=body, headers=server.headers, clients=8, seconds=seconds
        )
        print(f"  ordinary {name:26} {out['server'][name]['per_second']:7.0f}/s over the server", flush=True)
    env = _project_env(tmp)
    text = await asyncio.to_thread(
        _run, [PROJECT_PY, "-m", "bench.testclient_rate", "--seconds", str(seconds)], env
    )
    out["test_client"] = json.loads(text.strip().splitlines()[-1])
    for name, rate in out["test_client"].items():
        print(f"  ordinary {name:26} {rate['per_second']:7.0f}/s through the test client", flush=True)
    return out


async def measure_storm(tmp: Path, clients: int, rate: float, server_name: str = "daphne") -> dict[str, Any]:
    """N resuming clients on one ``python -m sse.daphne`` (or uvicorn, as the project under
    uvicorn runs): SIGTERM, a new process, everyone catches up.

    A publisher process writes ``rate`` events a second to the log throughout. The clock
    starts when the new process listens; a client has caught up when it gets an event
    published after its new connection was answered (everything before came first, in
    order). Then the publisher stops and every client must hold 1..last exactly once.
    """
    import threading

    env = _project_env(tmp)
    # The process cap stays off unless asked for: BENCH_STORM_MAX_STREAMS=4000 shows its answers.
    env["SSE_MAX_STREAMS_PER_PROCESS"] = os.environ.get("BENCH_STORM_MAX_STREAMS", "0")
    if not (tmp / "project.sqlite3").exists():
        _run([PROJECT_PY, "-m", "django", "migrate", "--noinput", "-v0"], env)
        _run([PROJECT_PY, "-m", "django", "seed_demo"], env)
    port = free_port()
    if server_name == "uvicorn":
        argv = [PROJECT_PY, *uvicorn_argv("project.asgi:application", port, fast=True)[1:]]
    else:
        argv = [PROJECT_PY, "-m", "sse.daphne", "-b", HOST, "-p", str(port), "project.asgi:application"]
    log = tmp / f"storm-{server_name}.log"
    proc = _spawn(argv, env, log, port)
    server = Server(
        "storm", "storm", "/sse/stream/?channel=broadcast", "", None, clients, [proc.pid], [proc], port
    )
    channel = "broadcast"
    stop_file = tmp / f"storm-{server_name}.stop"
    publisher: subprocess.Popen[str] | None = None
    storm: Storm | None = None
    out: dict[str, Any] = {"clients": clients, "rate": rate, "server": server_name}
    try:
        await _sign_in(server, f"http://{HOST}:{port}")
        storm = Storm(HOST, port, stream_request(HOST, port, server.stream_path, server.headers), clients)
        await storm.open_all()
        print(f"  storm: {clients} streams open", flush=True)
        publisher = subprocess.Popen(
            [
                PROJECT_PY,
                "-m",
                "bench.storm_publisher",
                channel,
                "--rate",
                str(rate),
                "--stop-file",
                str(stop_file),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=open(tmp / "storm-publisher.log", "ab"),
            text=True,
        )
        last = {"number": 0}

        def read_publisher() -> None:
            # A thread, so publish times are noted as they come even while the loop is busy.
            assert publisher is not None and publisher.stdout is not None and storm is not None
            for line in publisher.stdout:
                first, _, second = line.strip().partition(" ")
                if first == "done":
                    last["number"] = int(second)
                elif first.isdigit():
                    storm.published[int(first)] = float(second)
                    last["number"] = int(first)

        reader = threading.Thread(target=read_publisher, daemon=True)
        reader.start()
        await _until(lambda: storm.have(20) == clients, 60, "every stream had 20 live events")

        old_pid = proc.pid
        proc.send_signal(signal.SIGTERM)
        stopping = time.time()
        await asyncio.to_thread(proc.wait, 60)
        out["shutdown_seconds"] = time.time() - stopping
        out["old_exit"] = proc.returncode
        published_at_stop = last["number"]
        # The new process, on the same port, while clients keep trying and events keep coming.
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
        server.procs, server.pids = [proc], [proc.pid]
        listening = await _listening(port, proc)
        storm.restarted_at = listening
        cpu_at_listening = time.process_time()
        out["down_seconds"] = listening - stopping
        print(
            f"  storm: pid {old_pid} exited {out['shutdown_seconds']:.1f}s after SIGTERM "
            f"(code {out['old_exit']}); the new one listened {out['down_seconds']:.1f}s after SIGTERM; "
            f"{published_at_stop} events so far",
            flush=True,
        )
        timeout = 120.0
        caught = await _until(
            lambda: storm.caught_up() == clients, timeout, "every client caught up", fail=False
        )
        # The load client's own CPU over the storm: if near the wall time, it was the bottleneck.
        out["client_cpu_seconds"] = time.process_time() - cpu_at_listening
        out["client_wall_seconds"] = time.time() - listening
        stop_file.touch()
        await asyncio.to_thread(publisher.wait, 60)
        reader.join(10)
        final = last["number"]
        complete = await _until(
            lambda: storm.have(final) == clients, 60, "every client had the last event", fail=False
        )
        storm.stop()
        times = sorted(c.live_at - listening for c in storm.clients if c.live_at is not None)
        storm_end = listening + (times[-1] if times else timeout)
        out.update(
            {
                "all_caught_up": caught,
                "complete": complete,
                "events": final,
                # From SIGTERM until the last client caught up (or the wait ended).
                "events_during_storm": sum(1 for t in storm.published.values() if stopping <= t <= storm_end),
                "seconds_to_all": times[-1] if caught and times else None,
                "p50_s": percentile(times, 50) if times else None,
                "p99_s": percentile(times, 99) if times else None,
                "caught_up": len(times),
                "over_capacity": sum(c.over_capacity for c in storm.clients),
                "refused": storm.refused,
                "non_200": storm.non_200,
                "reconnects": sum(c.connections for c in storm.clients) - clients,
                "retry_ms": sorted({c.retry_ms for c in storm.clients}),
                **storm.verdict(final),
            }
        )
        print(
            f"  storm: {len(times)}/{clients} caught up, all in {_s(out['seconds_to_all'])}, "
            f"p50 {_s(out['p50_s'])} p99 {_s(out['p99_s'])}; lost {out['lost']} doubled {out['doubled']} "
            f"out of order {out['out_of_order']} behind {out['behind']}",
            flush=True,
        )
    finally:
        if storm is not None:
            storm.stop()
            for client in storm.clients:
                client.close()
        stop_file.touch()
        if publisher is not None and publisher.poll() is None:
            publisher.kill()
            publisher.wait()
        server.stop()
        out["log_tail"] = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    return out


async def _listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> float:
    """time.time() at which ``port`` first accepted a connection."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before listening")
        try:
            _, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        at = time.time()
        writer.close()
        return at
    raise TimeoutError(f"nothing listens on {port} after {timeout}s")


async def _until(predicate: Callable[[], bool], timeout: float, what: str, *, fail: bool = True) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            if fail:
                raise TimeoutError(f"timed out after {timeout}s waiting until {what}")
            return False
        await asyncio.sleep(0.05)
    return True


async def redis_commands(url: str) -> int:
    """Commands redis-server has run so far (the sum of INFO commandstats' calls)."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    reader, writer = await asyncio.open_connection(parsed.hostname or HOST, parsed.port or 6379)
    try:
        writer.write(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")
        size = int((await reader.readuntil(b"\r\n"))[1:-2])
        text = (await reader.readexactly(size + 2)).decode()
    finally:
        writer.close()
    return sum(int(m) for m in re.findall(r"calls=(\d+)", text))


# -- reporting -------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return f"{value:8.1f}ms" if value is not None else "       --"


def _s(value: float | None) -> str:
    return f"{value:.2f}s" if value is not None else "--"


def machine_info() -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]

    def project_versions() -> dict[str, str]:
        code = (
            "import json,importlib.metadata as m;print(json.dumps({p: m.version(p) for p in "
            "['django','daphne','twisted','channels','channels-redis','asgiref']}))"
        )
        try:
            return json.loads(_run([PROJECT_PY, "-c", code], _env()))
        except Exception as exc:  # the table is still useful without them
            return {"error": str(exc)}

    bench_versions = {}
    for name in (
        "django",
        "daphne",
        "twisted",
        "channels",
        "django-eventstream",
        "sse-starlette",
        "starlette",
        "uvicorn",
        "uvloop",
        "httptools",
        "matplotlib",
    ):
        try:
            bench_versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            bench_versions[name] = "-"
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_kib": int(mem),
        "kernel": platform.release(),
        "python_project": _run(
            [PROJECT_PY, "-c", "import sys;print(sys.version.split()[0])"], _env()
        ).strip(),
        "python_bench": platform.python_version(),
        "project_env": project_versions(),
        "bench_env": bench_versions,
        "nginx": nginx,
        "loadavg_start": os.getloadavg(),
        "nofile": __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)[0],
    }


def print_tables(report: dict[str, Any]) -> None:
    systems = report["systems"]
    keys = [k for k in systems if k not in FLOORS]
    ns = sorted({p["n"] for s in systems.values() for p in s.get("fanout", {}).get("points", [])})
    print("\n== time until every client had the broadcast (median of broadcasts; peer/project ratio) ==")
    print(f"{'N':>7} | " + " | ".join(f"{systems[k]['label'][:30]:>30}" for k in keys))

    def at(key: str, n: int, field_: str) -> float | None:
        for p in systems.get(key, {}).get("fanout", {}).get("points", []):
            if p["n"] == n:
                return p.get(field_)
        return None

    for n in ns:
        base = at("project", n, "all_ms")
        cells = []
        for k in keys:
            v = at(k, n, "all_ms")
            ratio = f" ({v / base:4.2f}x)" if v is not None and base and k != "project" else "        "
            cells.append(f"{_ms(v)}{ratio}".rjust(30))
        print(f"{n:>7} | " + " | ".join(cells))
    for field_, title in (
        ("p50_ms", "p50 receive time"),
        ("p99_ms", "p99 receive time"),
        ("spread_ms", "first to last client (the fan-out alone)"),
    ):
        print(f"\n-- {title} --")
        for n in ns:
            print(f"{n:>7} | " + " | ".join(_ms(at(k, n, field_)).rjust(30) for k in keys))

    print("\n== per system (at the largest N each reached) ==")
    print(
        f"{'system':42} {'max N':>7} {'KiB/stream':>10} {'threads':>8} {'connect/s':>10} "
        f"{'1-stream ev/s':>14}"
    )
    for k in keys:
        s = systems[k]
        pts = s.get("fanout", {}).get("points", [])
        last = pts[-1] if pts else {}
        tp = s.get("throughput", {})
        eps = tp.get("events_per_second")
        rate = statistics.median([p["connect"]["per_second"] for p in pts]) if pts else None
        print(
            f"{s['label'][:42]:42} {last.get('open', 0):>7} "
            f"{last.get('kib_per_stream', float('nan')):>10.1f} "
            f"{last.get('threads', 0):>8} {rate or 0:>10.0f} "
            f"{(f'{eps:.0f}' if eps else '--'):>9} {tp.get('received', '')}/{tp.get('sent', '')}"
        )
    pr = report.get("publish_rate", {})
    if pr:
        ours, theirs = pr["project"]["per_second"], pr["django-eventstream"]["per_second"]
        print(
            f"\n== publish with the durable log (SQLite, one transaction each) ==\n"
            f"this project publish(): {ours:8.0f}/s   django-eventstream send_event (DB storage): "
            f"{theirs:8.0f}/s   ratio {ours / theirs:4.2f}x"
        )
    print_connect(report)
    print_storm(report.get("storm"))
    print_storm(report.get(STORM_UVICORN))
    print_ordinary(report.get("ordinary"))
    print_clusters(report)
    print("\n== targets ==")
    for line in report.get("targets", []):
        print("  " + line)
    m = report["machine"]
    print(
        f"\nmachine: {m['cpu']}, {m['cores']} cores, {m['mem_kib'] // 1024} MiB, load avg at start "
        f"{m['loadavg_start'][0]:.2f}; project: {m['project_env']}; bench: {m['bench_env']}"
    )


def _at(rates: dict[Any, float | None], n: int) -> float | None:
    """A rate at N, from a report in memory (int keys) or read back from JSON (str keys)."""
    return rates.get(n, rates.get(str(n)))


def _spread(values: list[int]) -> str:
    if not values:
        return "--"
    if len(values) == 1:
        return str(values[0])
    return f"{values[0]}-{values[-1]} ({len(values)} values)"


def _ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:5.2f}x" if value and base else "   --"


def print_connect(report: dict[str, Any]) -> None:
    rows = report.get("connect", {})
    if not rows:
        return
    ns = report.get("connect_ns", [])
    print("\n== connect rate (streams opened per second, 50 handshakes in flight, from 0 to N) ==")
    print(f"{'system':36} | " + " | ".join(f"{f'N={n}':>9} {'/floor':>6} {'/d-e':>6}" for n in ns))
    floor = rows.get("floor-daphne", {}).get("rates", {})
    es = rows.get("django-eventstream", {}).get("rates", {})
    for row in rows.values():
        cells = []
        for n in ns:
            rate = _at(row["rates"], n)
            cells.append(
                f"{(f'{rate:.0f}/s' if rate else '--'):>9} {_ratio(rate, _at(floor, n)):>6} "
                f"{_ratio(rate, _at(es, n)):>6}"
            )
        failed = f"  ({row['failed']} failed)" if row.get("failed") else ""
        print(f"{row['label'][:36]:36} | " + " | ".join(cells) + failed)
    print("(/floor: ratio to the bare ASGI app on Daphne; /d-e: to django-eventstream)")


def print_storm(storm: dict[str, Any] | None) -> None:
    if not storm:
        return
    server = (
        "uvicorn project.asgi:application" if storm.get("server") == "uvicorn" else "python -m sse.daphne"
    )
    print(f"\n== reconnect storm (one `{server}`, SIGTERM, a new process on the same port) ==")
    if "error" in storm and "lost" not in storm:
        print(f"  ERROR {storm['error']}")
        return
    print(
        f"  clients {storm['clients']}; publisher {storm['rate']:.0f} events/s throughout; "
        f"{storm['events_during_storm']} events published from SIGTERM until the last client caught up "
        f"({storm['events']} in all)\n"
        f"  old process exited {storm['shutdown_seconds']:.1f}s after SIGTERM; new one listening "
        f"{storm['down_seconds']:.1f}s after SIGTERM; "
        f"last retry: per client {_spread(storm['retry_ms'])} ms\n"
        f"  seconds to all caught up (from listening): {_s(storm['seconds_to_all'])} "
        f"({storm['caught_up']}/{storm['clients']} caught up); catch-up p50 {_s(storm['p50_s'])}, "
        f"p99 {_s(storm['p99_s'])}\n"
        f"  lost {storm['lost']}, doubled {storm['doubled']}, out of order {storm['out_of_order']}, "
        f"clients short of the last event at the end {storm.get('behind', 0)}; "
        f"over-capacity answers (200 + retry) {storm['over_capacity']}; refused connects {storm['refused']}; "
        f"non-200 answers {storm['non_200']}; reconnections {storm['reconnects']}\n"
        f"  the load client used {storm.get('client_cpu_seconds', 0):.1f} s of CPU in the "
        f"{storm.get('client_wall_seconds', 0):.1f} s from listening until all caught up"
    )


def print_ordinary(ordinary: dict[str, Any] | None) -> None:
    if not ordinary:
        return
    print(
        "\n== ordinary requests (8 keep-alive clients over `python -m sse.daphne` vs Django's test client) =="
    )
    print(f"{'request':28} {'server':>10} {'test client':>12} {'ratio':>6}")
    for name, served in ordinary["server"].items():
        direct = ordinary["test_client"].get(name, {})
        a, b = served["per_second"], direct.get("per_second")
        bad = {k: v for k, v in served["statuses"].items() if int(k) >= 300}
        bad.update({f"test client {k}": v for k, v in direct.get("statuses", {}).items() if int(k) >= 300})
        note = f"  statuses {bad}" if bad else ""
        print(f"{name:28} {a:8.0f}/s {(b or 0):10.0f}/s {_ratio(a, b):>6}{note}")


def print_clusters(report: dict[str, Any]) -> None:
    clusters = {k: v for k, v in report["systems"].items() if k.startswith("cluster-")}
    if not clusters:
        return
    print("\n== scale-out: nginx + P Daphne processes + Redis ==")
    print(
        f"{'P':>3} {'N':>7} {'connect/s':>10} {'time-to-all':>12} {'redis cmds/event':>17} "
        f"{'events delivered':>17} {'repeats':>7}"
    )
    for key, system in clusters.items():
        for p in system.get("fanout", {}).get("points", []):
            cmds = p.get("redis_commands_per_event")
            delivered = f"{p.get('delivered', 0)}/{p.get('expected', 0)}"
            print(
                f"{key.split('-')[1]:>3} {p['n']:>7} {p['connect']['per_second']:>10.0f} "
                f"{_ms(p['all_ms']):>12} {(f'{cmds:.1f}' if cmds is not None else '--'):>17} "
                f"{delivered:>17} {p.get('repeats', 0):>7}"
            )
        fanout = system.get("fanout", {})
        if fanout.get("client_processes", 1) > 1:
            print(f"    (P = {key.split('-')[1]}: load client in {fanout['client_processes']} processes)")
        if system.get("error"):
            print(f"    P = {key.split('-')[1]}: {system['error']}")
        for line in system.get("nginx_errors", []):
            print(f"    nginx error.log: {line}")


def _storm_target(storm: dict[str, Any], under: str) -> str:
    if "lost" not in storm:
        return f"n/a  storm{under}: {storm.get('error', 'not measured in this run')}"
    ok = (
        storm["seconds_to_all"] is not None
        and storm["seconds_to_all"] <= 10
        and storm["lost"] == 0
        and storm["doubled"] == 0
        and storm["out_of_order"] == 0
        and not storm.get("behind")
    )
    return (
        f"{'PASS' if ok else 'FAIL'} storm, {storm['clients']} clients{under}: all caught up in "
        f"{_s(storm['seconds_to_all'])} "
        f"(target <= 10 s; p99 {_s(storm['p99_s'])}), lost {storm['lost']}, doubled {storm['doubled']}, "
        f"out of order {storm['out_of_order']}, behind at the end {storm.get('behind', 0)}"
    )


def check_targets(report: dict[str, Any]) -> list[str]:
    """One line per target of issue 13 (and the earlier ones that still apply): PASS, FAIL or n/a."""
    systems = report["systems"]

    def point(key: str, n: int) -> dict[str, Any] | None:
        for p in systems.get(key, {}).get("fanout", {}).get("points", []):
            if p["n"] == n:
                return p
        return None

    def verdict(ok: bool | None) -> str:
        return "n/a " if ok is None else ("PASS" if ok else "FAIL")

    def rate(value: float | None) -> str:
        return f"{value:.0f}/s" if value else "--"

    lines = []
    connect = report.get("connect", {})
    floor = connect.get("floor-daphne", {}).get("rates", {})
    es = connect.get("django-eventstream", {}).get("rates", {})
    for key, auth in (("project", "session"), ("project-token", "token")):
        ours = connect.get(key, {}).get("rates", {})
        for n in report.get("connect_ns", []):
            a, f, e = _at(ours, n), _at(floor, n), _at(es, n)
            ok = None if not (a and f and e) else (a >= 0.75 * f and a >= 1.5 * e)
            lines.append(
                f"{verdict(ok)} connect rate, {auth}, N={n}: {rate(a)} vs 0.75x the Daphne floor "
                f"({rate(f)} -> {rate(0.75 * f if f else None)}) and 1.5x django-eventstream "
                f"({rate(e)} -> {rate(1.5 * e if e else None)})"
            )
    floor_uvicorn = connect.get("floor-uvicorn", {}).get("rates", {})
    for key, auth in ((PROJECT_UVICORN, "session"), (f"{PROJECT_UVICORN}-token", "token")):
        ours = connect.get(key, {}).get("rates", {})
        for n in report.get("connect_ns", []):
            a, f = _at(ours, n), _at(floor_uvicorn, n)
            ok = None if not (a and f) else a >= 0.75 * f
            lines.append(
                f"{verdict(ok)} connect rate under uvicorn, {auth}, N={n}: {rate(a)} vs 0.75x the uvicorn "
                f"floor ({rate(f)} -> {rate(0.75 * f if f else None)})"
            )
    for key, under in (("storm", ""), (STORM_UVICORN, ", the project under uvicorn")):
        lines.append(_storm_target(report.get(key) or {}, under))

    ns = sorted({p["n"] for p in systems.get("project", {}).get("fanout", {}).get("points", [])})
    n = 5000 if 5000 in ns else (ns[-1] if ns else 0)
    ours = point("project", n) or {}
    kib = ours.get("kib_per_stream")
    lines.append(
        f"{verdict(None if kib is None else kib * 1.024 <= 28)} memory per stream at N={n}: "
        f"{kib or float('nan'):.1f} KiB ({(kib or 0) * 1.024:.1f} KB; target <= 28 KB)"
    )
    kib_uvicorn = (point(PROJECT_UVICORN, n) or {}).get("kib_per_stream")
    lines.append(
        f"{verdict(None if kib_uvicorn is None else kib_uvicorn * 1.024 <= 28)} memory per stream at N={n}, "
        f"the project under uvicorn: {kib_uvicorn or float('nan'):.1f} KiB "
        f"({(kib_uvicorn or 0) * 1.024:.1f} KB)"
    )
    star = point("sse-starlette", n) or {}
    es_point = point("django-eventstream", n) or {}
    a, b, c = ours.get("all_ms"), star.get("all_ms"), es_point.get("all_ms")
    lines.append(
        f"{verdict(None if a is None or b is None else a <= 0.9 * b)} time-to-all at N={n}: "
        f"{_ms(a).strip()} vs 0.9x sse-starlette's {_ms(b).strip()}"
    )
    on_uvicorn = (point(PROJECT_UVICORN, n) or {}).get("all_ms")
    lines.append(
        f"{verdict(None if on_uvicorn is None or b is None else on_uvicorn <= 0.9 * b)} time-to-all at "
        f"N={n}, the project under uvicorn: {_ms(on_uvicorn).strip()} "
        f"vs 0.9x sse-starlette's {_ms(b).strip()}"
    )
    lines.append(
        f"{verdict(None if a is None or c is None else a <= c / 2)} time-to-all at N={n}: "
        f"{_ms(a).strip()} vs half of django-eventstream's {_ms(c).strip()}"
    )
    pts = systems.get("project", {}).get("fanout", {}).get("points", [])
    if pts:
        t0, t1 = pts[0]["threads"], pts[-1]["threads"]
        lines.append(
            f"{verdict(t1 <= t0 + 5)} threads flat: {t0} at N={pts[0]['n']}, {t1} at N={pts[-1]['n']}"
        )
    big = point("project", 10000)
    lines.append(
        f"{verdict(None if big is None else bool(big['complete']))} 10,000 streams, every broadcast "
        f"reaching all: {'measured' if big else 'not measured in this run'}"
    )
    ordinary = report.get("ordinary")
    for name in ORDINARY:
        served = (ordinary or {}).get("server", {}).get(name, {}).get("per_second")
        direct = (ordinary or {}).get("test_client", {}).get(name, {}).get("per_second")
        ok = None if not (served and direct) else served >= 0.7 * direct
        lines.append(
            f"{verdict(ok)} ordinary requests, {name}: {rate(served)} over the server vs 0.7x the test "
            f"client's {rate(direct)} ({_ratio(served, direct).strip()})"
        )
    throttled = point("project-throttled", n) or {}
    t = throttled.get("all_ms")
    lines.append(
        f"{verdict(None if a is None or t is None else t <= a * 1.25)} a throttled channel (max_rate=5) "
        f"at N={n}: time-to-all {_ms(t).strip()} vs {_ms(a).strip()} unthrottled (within 1.25x)"
    )
    tp = systems.get("project", {}).get("throughput", {})
    eps = tp.get("events_per_second")
    lines.append(
        f"{verdict(None if eps is None else eps >= 20000 and tp['received'] == tp['sent'])} one stream: "
        f"{eps or 0:.0f} events/s ({tp.get('received')}/{tp.get('sent')} received; "
        f"end to end incl. publishing {tp.get('end_to_end_per_second', 0):.0f}/s)"
    )
    pr = report.get("publish_rate")
    if pr:
        ratio = pr["project"]["per_second"] / pr["django-eventstream"]["per_second"]
        lines.append(
            f"{verdict(ratio >= 2)} publish() with the durable log: "
            f"{ratio:.2f}x django-eventstream send_event"
        )
    return lines


def chart(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for key, system in report["systems"].items():
        pts = [p for p in system.get("fanout", {}).get("points", []) if p.get("all_ms") is not None]
        if pts:
            ax.plot(
                [p["n"] for p in pts],
                [p["all_ms"] for p in pts],
                marker="o",
                label=system["label"],
                linewidth=2.5 if key == "project" else 1.5,
            )
    ax.set_xlabel("open streams (N)")
    ax.set_ylabel("time until every client had the broadcast (ms)")
    ax.set_yscale("log")
    m = report["machine"]
    ax.set_title(
        f"One broadcast to N SSE streams, one server process\n{m['cores']} cores, client on the same "
        f"machine{' (quick mode)' if report['quick'] else ''}",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def update_docs(report: dict[str, Any], tables: str) -> None:
    """Put the tables and the chart between the markers of docs/performance.md."""
    docs = ROOT / "docs" / "performance.md"
    if not docs.exists():
        return
    image = ROOT / "docs" / "images" / "bench-time-to-all.png"
    image.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(RESULTS / "time-to-all.png", image)
    mode = "quick mode (`make bench BENCH_QUICK=1`)" if report["quick"] else "`make bench`"
    m = report["machine"]
    block = (
        f"<!-- bench:begin -->\nRun of {report['started']} with {mode}, {report['seconds']:.0f} s, "
        f"load average {m['loadavg_start'][0]:.2f} at the start and {m['loadavg_end'][0]:.2f} at the end.\n\n"
        f"![time-to-all against N](images/bench-time-to-all.png)\n\n```text\n{tables.strip()}\n```\n"
        "<!-- bench:end -->"
    )
    text = docs.read_text()
    text = re.sub(r"<!-- bench:begin -->.*?<!-- bench:end -->", lambda _: block, text, flags=re.S)
    docs.write_text(text)
    print(f"updated {docs}")


# -- main --------------------------------------------------------------------------

STARTERS: dict[str, Callable[[Path, int], Awaitable[Server]]] = {
    "project": start_project,
    # The same server, streams on bench.throttled (max_rate=5): what a throttle costs a broadcast.
    "project-throttled": lambda tmp, m: start_project(tmp, m, channel="bench.throttled"),
    "sse-starlette": lambda tmp, m: start_starlette(tmp, m, fast=True),
    "sse-starlette-h11": lambda tmp, m: start_starlette(tmp, m, fast=False),
    "django-eventstream": lambda tmp, m: start_djpeer(tmp, m, "django-eventstream"),
    "channel-layer-view": lambda tmp, m: start_djpeer(tmp, m, "channel-layer-view"),
}


# Systems that only have their connect rate measured, and the storm (its own server process).
FLOORS = {"floor-daphne": "daphne", "floor-uvicorn": "uvicorn"}
# The project under uvicorn: its connect rate (session and token) against the uvicorn floor.
PROJECT_UVICORN = "project-uvicorn"
# The reconnect storm, under python -m sse.daphne ("storm") and under uvicorn.
STORM_UVICORN = "storm-uvicorn"
STORMS = {"storm": "daphne", STORM_UVICORN: "uvicorn"}
CONNECT_MEASURED = ("project", "sse-starlette", "django-eventstream")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    ns = [200, 1000] if quick else [1000, 2500, 5000, 10000]
    if args.sizes:
        ns = sorted(int(n) for n in args.sizes.split(","))
    # The clusters go on to 20,000 streams over their processes (issue 25).
    cluster_ns = ns if (quick or args.sizes) else [*ns, 20000]
    if args.cluster_sizes:
        cluster_ns = sorted(int(n) for n in args.cluster_sizes.split(","))
    connect_ns = [200, 500] if quick else [2000, 5000]
    storm_clients = int(args.storm) if args.storm else (500 if quick else 5000)
    ordinary_seconds = 3.0 if quick else 8.0
    caps = {
        "project": 10000,
        "project-throttled": 5000,
        "cluster": 20000,
        "sse-starlette": 10000,
        "sse-starlette-h11": 5000,
        "django-eventstream": 5000,
        # O(N^2) per broadcast with the in-memory layer: 13.8 s at 5,000.
        "channel-layer-view": 2500,
    }
    systems = (
        args.systems.split(",")
        if args.systems
        else (
            ["floor-daphne", "floor-uvicorn", "project", PROJECT_UVICORN, "project-throttled"]
            + ["sse-starlette"]
            + ["django-eventstream", "channel-layer-view"]
            + ([] if quick else ["sse-starlette-h11"])
            + [*STORMS]
        )
    )
    clusters = [int(p) for p in str(args.cluster).split(",") if p.strip() and int(p) > 0]
    systems += [f"cluster-{p}" for p in clusters]
    report: dict[str, Any] = {
        "quick": quick,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "ns": ns,
        "cluster_ns": cluster_ns,
        "connect_ns": connect_ns,
        "systems": {},
        "connect": {},
    }
    broadcasts = 3 if quick else 5
    burst = 2000 if quick else 20000
    timeout = 60.0
    numbers = Counter()
    with tempfile.TemporaryDirectory(prefix="sse-bench-") as tmpdir:
        tmp = Path(tmpdir)
        # Seconds each system may spend on its ramp (the whole run stays under 20 minutes).
        # A cluster has its own share, so asking for one does not shorten the others' ramps.
        ramps = [k for k in systems if k not in FLOORS and k not in STORMS and not k.startswith("cluster-")]
        budget = (240.0 if quick else 480.0) / max(1, len(ramps))
        # Plus 6 ms per stream of the largest N: opening 20,000 streams alone takes about a minute.
        cluster_budget = (60.0 if quick else 120.0) + 0.006 * max(cluster_ns, default=0)
        for key in systems:
            print(f"\n-- {key}", flush=True)
            if key in STORMS:
                try:
                    report[key] = await measure_storm(tmp, storm_clients, 20.0, STORMS[key])
                except Exception as exc:
                    report[key] = {"clients": storm_clients, "error": repr(exc)}
                    print(f"  storm: ERROR {exc!r}", flush=True)
                continue
            started = time.monotonic()
            if key == PROJECT_UVICORN:
                server = await start_project(tmp, caps["project"], server_name="uvicorn")
            elif key.startswith("cluster-"):
                processes = int(key.split("-")[1])
                # Each Daphne holds one descriptor per stream, within the hard limit it inherits.
                per_process = nofile_limit() - 200
                fits = [n for n in cluster_ns if n <= caps["cluster"] and n / processes <= per_process]
                if skipped := [n for n in cluster_ns if n not in fits]:
                    print(
                        f"  {key}: N={skipped} skipped: over {caps['cluster']} streams, or over "
                        f"{per_process} per process (RLIMIT_NOFILE {nofile_limit()})",
                        flush=True,
                    )
                server = await start_cluster(tmp, max(fits, default=0), processes, max(fits, default=0))
            elif key in FLOORS:
                server = await start_floor(tmp, 0, FLOORS[key])
            else:
                server = await STARTERS[key](tmp, caps[key])
            entry: dict[str, Any] = {"label": server.label}
            report["systems"][key] = entry
            try:
                if key in FLOORS:
                    await _connect_row(report, key, server.label, server, connect_ns)
                    continue
                share = (
                    cluster_budget if key.startswith("cluster-") else budget * (2 if key == "project" else 1)
                )
                entry["fanout"] = await measure_fanout(
                    server,
                    cluster_ns if key.startswith("cluster-") else ns,
                    broadcasts,
                    timeout,
                    numbers,
                    deadline=started + share,
                )
                await asyncio.sleep(1.0)
                entry["throughput"] = await measure_throughput(server, burst, numbers, timeout=120)
                if entry["throughput"]:
                    tp = entry["throughput"]
                    print(
                        f"  {key:20} one stream: {tp.get('received')}/{tp.get('sent')} events, "
                        f"{tp.get('events_per_second', 0):.0f}/s",
                        flush=True,
                    )
                if key == PROJECT_UVICORN:
                    await _connect_row(report, key, "this project (uvicorn), session", server, connect_ns)
                    token = await mint_token(server, ["broadcast"])
                    bearer = [("Authorization", f"Bearer {token}")]
                    label = "this project (uvicorn), token"
                    await _connect_row(report, f"{key}-token", label, server, connect_ns, bearer)
                if key in CONNECT_MEASURED:
                    label = "this project (Daphne), session" if key == "project" else server.label
                    await _connect_row(report, key, label, server, connect_ns)
                if key == "project":
                    token = await mint_token(server, ["broadcast"])
                    bearer = [("Authorization", f"Bearer {token}")]
                    await _connect_row(
                        report, "project-token", "this project (Daphne), token", server, connect_ns, bearer
                    )
                    report["ordinary"] = await measure_ordinary(server, tmp, ordinary_seconds)
            except Exception as exc:
                entry["error"] = repr(exc)
                print(f"  {key}: ERROR {exc!r}", flush=True)
            finally:
                server.stop()
                log = tmp / f"{key}.log"
                entry["log_tail"] = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                if server.workdir is not None:
                    errors = nginx_errors(server.workdir)
                    entry["nginx_errors"] = errors
                    for line in errors[:20]:
                        print(f"  nginx error.log: {line}", flush=True)
                entry["seconds"] = time.monotonic() - started
        print("\n-- publish rate", flush=True)
        try:
            report["publish_rate"] = measure_publish_rate(tmp, 300 if quick else 2000)
        except Exception as exc:
            report["publish_rate_error"] = repr(exc)
    report["machine"]["loadavg_end"] = os.getloadavg()
    report["targets"] = check_targets(report)
    return report


async def _connect_row(
    report: dict[str, Any],
    key: str,
    label: str,
    server: Server,
    ns: list[int],
    headers: list[tuple[str, str]] | None = None,
) -> None:
    row = await measure_connect(server, ns, headers)
    row["label"] = label
    report["connect"][key] = row
    rates = "  ".join(f"N={n}: {rate or 0:.0f}/s" for n, rate in row["rates"].items())
    print(f"  connect {label:34} {rates}  failed={row['failed']} {row.get('stopped', '')}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small N, few broadcasts (for development)")
    parser.add_argument(
        "--systems",
        default="",
        help="comma-separated subset: "
        + ", ".join([*FLOORS, *STARTERS, PROJECT_UVICORN, *STORMS, "cluster-P"]),
    )
    parser.add_argument("--sizes", default="", help="comma-separated numbers of streams (default: by mode)")
    parser.add_argument(
        "--cluster",
        default="",
        metavar="P[,P...]",
        help="also measure nginx + P Daphne processes + Redis, for each P given (e.g. 1,2)",
    )
    parser.add_argument(
        "--cluster-sizes",
        default="",
        help="numbers of streams for the clusters (default: --sizes, or the full run's plus 20000)",
    )
    parser.add_argument(
        "--storm", default="", metavar="N", help="clients in the reconnect storm (default: by mode)"
    )
    parser.add_argument(
        "--docs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="update docs/performance.md (default: on for full runs, off with --quick)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        client_loop = "uvloop"
    except ImportError:
        runner = asyncio.Runner()
        client_loop = "asyncio"
    with runner:
        report = runner.run(run(args))
    report["client_loop"] = client_loop
    report["seconds"] = time.monotonic() - started
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    text = json.dumps(report, indent=2, default=str)
    (RESULTS / f"bench-{stamp}{'-quick' if args.quick else ''}.json").write_text(text)
    (RESULTS / "latest.json").write_text(text)
    chart(report, RESULTS / "time-to-all.png")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        print_tables(report)
    tables = buffer.getvalue()
    print(tables)
    (RESULTS / "latest.txt").write_text(tables)
    if args.docs if args.docs is not None else not (args.quick or args.sizes):
        update_docs(report, tables)
    print(f"\nwrote {RESULTS / 'latest.json'} and {RESULTS / 'time-to-all.png'} in {report['seconds']:.0f}s")


if __name__ == "__main__":
    main()
