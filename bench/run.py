"""``make bench``: this project against its peers, in one run, on this machine.

Run from .venv-bench (``.venv-bench/bin/python -m bench.run [--quick]``). The
project's servers run from .venv, the peers from .venv-bench; this process is
the load client. Every socket is on 127.0.0.1.

Per system and per N open streams: the time each client received a broadcast
(p50, p99, time-to-all, from just before the publish request went out), the
connect rate, server RSS per open stream and thread count (/proc). Then one
stream's throughput (a burst of events), and publish() calls per second with the
durable log against django-eventstream's send_event with its database storage.
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

from bench.djlogin import login
from bench.sseload import Load, http_request, percentile, stream_request
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


async def start_project(tmp: Path, max_streams: int, channel: str = "broadcast") -> Server:
    env = _project_env(tmp)
    _run([PROJECT_PY, "-m", "django", "migrate", "--noinput", "-v0"], env)
    _run([PROJECT_PY, "-m", "django", "seed_demo"], env)
    port = free_port()
    argv = [PROJECT_PY, "-m", "sse.daphne", "-b", HOST, "-p", str(port), "project.asgi:application"]
    proc = _spawn(argv, env, tmp / "project.log", port)
    throttled = channel != "broadcast"
    server = Server(
        "project-throttled" if throttled else "project",
        "this project, throttled channel" if throttled else "this project (Daphne)",
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


async def start_cluster(tmp: Path, max_streams: int, processes: int) -> Server:
    port = free_port()
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
        "cluster",
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
    return server


async def start_starlette(tmp: Path, max_streams: int, fast: bool) -> Server:
    port = free_port()
    impl = ["--loop", "uvloop", "--http", "httptools"] if fast else ["--loop", "asyncio", "--http", "h11"]
    argv = [
        BENCH_PY,
        "-m",
        "uvicorn",
        "bench.peers.starlette_app:app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--backlog",
        "4096",
        *impl,
    ]
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


async def broadcast(load: Load, server: Server, numbers: Counter, timeout: float) -> dict[str, Any]:
    if server.key == "project-throttled":
        # A window (1/5 s) apart: each broadcast goes out at once, so what is measured is the
        # throttle's cost, not the wait it imposes by design on events closer together.
        await asyncio.sleep(0.25)
    number = numbers.next()
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
    load = Load()
    request = stream_request(HOST, server.port, server.stream_path, server.headers)
    out: dict[str, Any] = {"points": []}
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
            for _ in range(broadcasts):
                point["broadcasts"].append(await broadcast(load, server, numbers, timeout))
                # A system that takes seconds per broadcast (O(N^2)) gets fewer of them.
                if (point["broadcasts"][-1]["all_ms"] or timeout * 1000) > 5000 and len(
                    point["broadcasts"]
                ) >= 2:
                    break
                await asyncio.sleep(0.3)
            done = [b for b in point["broadcasts"] if b["complete"]]
            point["complete"] = len(done) == len(point["broadcasts"]) and open_now >= n
            for key in ("p50_ms", "p99_ms", "all_ms", "spread_ms"):
                values = [b[key] for b in done if b[key] is not None]
                point[key] = statistics.median(values) if values else None
            point["threads_end"] = server.status()["threads"]
            out["points"].append(point)
            print(
                f"  {server.key:20} N={n:>6} open={open_now:>6} all={_ms(point['all_ms'])} "
                f"p50={_ms(point['p50_ms'])} p99={_ms(point['p99_ms'])} "
                f"connect={result.rate:7.0f}/s rss/stream={point['kib_per_stream']:.1f}KiB "
                f"threads={status['threads']}",
                flush=True,
            )
            if not point["complete"]:
                print(f"  {server.key}: not every stream got every broadcast; stopping its ramp", flush=True)
                break
    finally:
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


# -- reporting -------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return f"{value:8.1f}ms" if value is not None else "       --"


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
    keys = list(systems)
    ns = sorted({p["n"] for s in systems.values() for p in s.get("fanout", {}).get("points", [])})
    print("\n== time until every client had the broadcast (median of broadcasts; peer/project ratio) ==")
    print(f"{'N':>7} | " + " | ".join(f"{systems[k]['label'][:30]:>30}" for k in keys))

    def at(key: str, n: int, field_: str) -> float | None:
        for p in systems[key].get("fanout", {}).get("points", []):
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
    print("\n== targets (issue 4) ==")
    for line in report.get("targets", []):
        print("  " + line)
    m = report["machine"]
    print(
        f"\nmachine: {m['cpu']}, {m['cores']} cores, {m['mem_kib'] // 1024} MiB, load avg at start "
        f"{m['loadavg_start'][0]:.2f}; project: {m['project_env']}; bench: {m['bench_env']}"
    )


def check_targets(report: dict[str, Any]) -> list[str]:
    systems = report["systems"]

    def point(key: str, n: int) -> dict[str, Any] | None:
        for p in systems.get(key, {}).get("fanout", {}).get("points", []):
            if p["n"] == n:
                return p
        return None

    ns = sorted({p["n"] for p in systems.get("project", {}).get("fanout", {}).get("points", [])})
    n = 5000 if 5000 in ns else (ns[-1] if ns else 0)
    ours = point("project", n) or {}
    lines = []

    def verdict(ok: bool | None) -> str:
        return "n/a " if ok is None else ("PASS" if ok else "FAIL")

    star = point("sse-starlette", n) or {}
    es = point("django-eventstream", n) or {}
    a, b, c = ours.get("all_ms"), star.get("all_ms"), es.get("all_ms")
    lines.append(
        f"{verdict(None if a is None or b is None else a <= b)} time-to-all at N={n}: "
        f"{_ms(a).strip()} vs sse-starlette {_ms(b).strip()}"
    )
    lines.append(
        f"{verdict(None if a is None or c is None else a <= c / 2)} time-to-all at N={n}: "
        f"{_ms(a).strip()} vs half of django-eventstream's {_ms(c).strip()}"
    )
    throttled = point("project-throttled", n) or {}
    t = throttled.get("all_ms")
    lines.append(
        f"{verdict(None if a is None or t is None else t <= a * 1.25)} a throttled channel (max_rate=5) "
        f"at N={n}: time-to-all {_ms(t).strip()} vs {_ms(a).strip()} unthrottled (within 1.25x)"
    )
    kib = ours.get("kib_per_stream")
    lines.append(
        f"{verdict(None if kib is None else kib * 1.024 <= 35)} memory per stream at N={n}: "
        f"{kib or float('nan'):.1f} KiB ({(kib or 0) * 1.024:.1f} KB; target <= 35 KB)"
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


async def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    ns = [200, 1000] if quick else [1000, 2500, 5000, 10000]
    if args.sizes:
        ns = sorted(int(n) for n in args.sizes.split(","))
    caps = {
        "project": 10000,
        "project-throttled": 5000,
        "cluster": 10000,
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
            ["project", "project-throttled", "sse-starlette", "django-eventstream", "channel-layer-view"]
            + ([] if quick else ["sse-starlette-h11"])
        )
    )
    if args.cluster:
        systems.append("cluster")
    report: dict[str, Any] = {
        "quick": quick,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "ns": ns,
        "systems": {},
    }
    broadcasts = 3 if quick else 5
    burst = 2000 if quick else 20000
    timeout = 60.0
    numbers = Counter()
    with tempfile.TemporaryDirectory(prefix="sse-bench-") as tmpdir:
        tmp = Path(tmpdir)
        # Seconds each system may spend on its ramp (the whole run stays under 15 minutes).
        budget = (240.0 if quick else 480.0) / len(systems)
        for key in systems:
            print(f"\n-- {key}", flush=True)
            started = time.monotonic()
            if key == "cluster":
                server = await start_cluster(tmp, caps[key], args.cluster)
            else:
                server = await STARTERS[key](tmp, caps[key])
            entry: dict[str, Any] = {"label": server.label}
            report["systems"][key] = entry
            try:
                share = budget * (2 if key == "project" else 1)
                entry["fanout"] = await measure_fanout(
                    server, ns, broadcasts, timeout, numbers, deadline=started + share
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
            except Exception as exc:
                entry["error"] = repr(exc)
                print(f"  {key}: ERROR {exc!r}", flush=True)
            finally:
                server.stop()
                log = tmp / f"{key}.log"
                entry["log_tail"] = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            entry["seconds"] = time.monotonic() - started
        print("\n-- publish rate", flush=True)
        try:
            report["publish_rate"] = measure_publish_rate(tmp, 300 if quick else 2000)
        except Exception as exc:
            report["publish_rate_error"] = repr(exc)
    report["machine"]["loadavg_end"] = os.getloadavg()
    report["targets"] = check_targets(report)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small N, few broadcasts (for development)")
    parser.add_argument("--systems", default="", help="comma-separated subset: " + ", ".join(STARTERS))
    parser.add_argument("--sizes", default="", help="comma-separated numbers of streams (default: by mode)")
    parser.add_argument(
        "--cluster", type=int, default=0, metavar="P", help="also measure nginx + P Daphne processes + Redis"
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
