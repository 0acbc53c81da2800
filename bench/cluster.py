"""nginx in front of N Daphne processes sharing one redis-server: the scale-out setup.

``make cluster`` (or ``.venv/bin/python -m bench.cluster --processes 2``) runs it
in the foreground from a temp dir with free loopback ports until Ctrl-C. The
nginx config is generated from ``deploy/nginx/cluster.conf.template`` and
includes ``deploy/nginx/sse-proxy.conf``, the settings the docs recommend.
Run it with the project's interpreter (.venv): the Daphne processes use it.

nginx is sized for ``--streams`` open streams (default 20,000). Each proxied stream
holds two of a worker's connections, so two file descriptors: the client's and the
upstream's. A worker raises its descriptor limit to ``worker_rlimit_nofile`` only up
to the hard limit it inherits, unless it may raise that (CAP_SYS_RESOURCE, which root
in a container often lacks; nginx then logs ``setrlimit(RLIMIT_NOFILE, ...) failed``
and keeps the inherited limit). So the limit is set to what this process may give
(at most 65,536) and, where one worker cannot hold the streams, more workers share
them (``listen ... reuseport`` spreads connections over the workers). The start fails
if a worker runs with less than that limit.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from string import Template

from tests.servers import DaphneServer, RedisServer, free_port, prepare_database, project_env, wait_for_port

__all__ = ["NGINX", "Cluster"]

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "nginx"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
STREAMS = 20000
# Descriptors a worker has open besides its connections' sockets (logs, listening
# sockets, epoll, the channel to the master), below worker_rlimit_nofile.
NGINX_FD_MARGIN = 64


def nofile_limit() -> int:
    """The hard RLIMIT_NOFILE of this process: what it can give its children."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1 << 20 if hard == resource.RLIM_INFINITY else hard


def raise_nofile() -> int:
    """Raise this process's soft descriptor limit to its hard one; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return nofile_limit()


def nginx_sizing(streams: int, nofile: int | None = None) -> dict[str, int]:
    """``worker_processes``, ``worker_rlimit_nofile`` and ``worker_connections`` for ``streams``."""
    limit = min(nofile if nofile is not None else nofile_limit(), 65536)
    connections = limit - NGINX_FD_MARGIN
    # Two connections per stream, and a quarter more for an uneven spread over the workers.
    workers = max(1, math.ceil(2 * streams * 1.25 / connections))
    return {"workers": workers, "nofile": limit, "connections": connections}


def nginx_workers(master: int) -> list[int]:
    """The pids of the worker processes of the nginx ``master`` (from /proc)."""
    workers = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its ")".
        if int(stat.rpartition(")")[2].split()[1]) == master:
            workers.append(int(entry.name))
    return workers


def open_files_limit(pid: int) -> int:
    """The soft "Max open files" of ``pid``."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            value = line.split()[3]
            return 1 << 20 if value == "unlimited" else int(value)
    raise RuntimeError(f"no open-files limit for {pid}")


class Cluster:
    """Redis, ``processes`` Daphnes on one database, nginx on ``port``."""

    def __init__(
        self,
        processes: int = 2,
        *,
        port: int | None = None,
        workdir: Path | None = None,
        redis_url: str | None = None,
        seed: bool = True,
        settings: str = "project.settings",
        streams: int = STREAMS,
        **env: str,
    ) -> None:
        self.processes = processes
        self.streams = streams
        self.sizing: dict[str, int] = {}
        self.port = port or free_port()
        self._own_dir = workdir is None
        self.dir = workdir or Path(tempfile.mkdtemp(prefix="sse-cluster-"))
        self.redis: RedisServer | None = None
        self.redis_url = redis_url
        self.seed = seed
        self.settings = settings
        self.extra_env = env
        self.daphnes: list[DaphneServer] = []
        self.nginx: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Cluster:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        # Daphne, nginx and Redis inherit it: one descriptor per stream in each Daphne.
        raise_nofile()
        if self.redis_url is None:
            self.redis = RedisServer().start()
            self.redis_url = self.redis.url
        env = project_env(
            f"sqlite:///{self.dir / 'db.sqlite3'}",
            settings=self.settings,
            REDIS_URL=self.redis_url,
            **{"SSE_MAX_STREAMS_PER_USER": "0", "SSE_MAX_STREAMS_PER_PROCESS": "0", **self.extra_env},
        )
        prepare_database(env, seed=self.seed)
        for i in range(self.processes):
            self.daphnes.append(DaphneServer(env, log_path=self.dir / f"daphne-{i}.log").start())
        conf = self.write_nginx_conf()
        # -e: errors before the config's own error_log is read go to the temp dir too.
        self.nginx = subprocess.Popen(
            [NGINX, "-p", str(self.dir), "-c", str(conf), "-e", str(self.dir / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "nginx.stderr", "ab"),
        )
        wait_for_port(self.port, proc=self.nginx)
        self._check_workers()

    def _check_workers(self) -> None:
        """Every worker is up with the descriptor limit it was sized for, or raise."""
        assert self.nginx is not None
        deadline = time.monotonic() + 10
        while len(workers := nginx_workers(self.nginx.pid)) < self.sizing["workers"]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nginx started {len(workers)} of {self.sizing['workers']} workers")
            time.sleep(0.05)
        for pid in workers:
            limit = open_files_limit(pid)
            if limit < self.sizing["nofile"]:
                log = (self.dir / "error.log").read_text(errors="replace")
                raise RuntimeError(
                    f"nginx worker {pid} may open {limit} files, not {self.sizing['nofile']}: {log[-1000:]}"
                )

    def write_nginx_conf(self) -> Path:
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir(exist_ok=True)
        user = ""
        if os.geteuid() == 0:
            # As root nginx drops its workers to this user: give it the temp dirs.
            user = "user nobody nogroup;"
            os.chmod(self.dir, 0o755)
            for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
                shutil.chown(self.dir / sub, "nobody", "nogroup")
        self.sizing = nginx_sizing(self.streams)
        servers = "\n".join(f"        server 127.0.0.1:{d.port};" for d in self.daphnes)
        template = Template((DEPLOY / "cluster.conf.template").read_text())
        # safe_substitute leaves nginx's own $variables alone.
        text = template.safe_substitute(
            user=user,
            prefix=str(self.dir),
            servers=servers,
            port=str(self.port),
            snippet=str(DEPLOY / "sse-proxy.conf"),
            **{k: str(v) for k, v in self.sizing.items()},
        )
        path = self.dir / "nginx.conf"
        path.write_text(text)
        return path

    def stop(self) -> None:
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)  # graceful: finish, then exit
            try:
                self.nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()
        for daphne in self.daphnes:
            daphne.stop()
        if self.redis is not None:
            self.redis.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=2, help="Daphne processes (default 2)")
    parser.add_argument("--port", type=int, default=None, help="nginx port (default: a free one)")
    parser.add_argument("--heartbeat", default=None, help="SSE_HEARTBEAT_SECONDS for the Daphnes")
    parser.add_argument("--settings", default="project.settings", help="DJANGO_SETTINGS_MODULE")
    parser.add_argument(
        "--streams", type=int, default=STREAMS, help=f"size nginx for this many streams (default {STREAMS})"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the config, the database and every log here (default: a temp dir, removed at exit)",
    )
    args = parser.parse_args(argv)
    extra = {"SSE_HEARTBEAT_SECONDS": args.heartbeat} if args.heartbeat else {}
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(
        args.processes,
        port=args.port,
        workdir=args.workdir,
        settings=args.settings,
        streams=args.streams,
        **extra,
    )
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with cluster:
        info = {
            "url": cluster.url,
            "nginx_pid": cluster.nginx.pid if cluster.nginx else None,
            "daphne": [{"port": d.port, "pid": d.proc.pid if d.proc else None} for d in cluster.daphnes],
            "redis": cluster.redis_url,
            "dir": str(cluster.dir),
            "nginx": cluster.sizing,
        }
        print(json.dumps(info), flush=True)
        sizing = cluster.sizing
        print(
            f"nginx on {cluster.url}/ -> {cluster.processes} Daphne processes (Ctrl-C stops); "
            f"{sizing['workers']} nginx workers x {sizing['connections']} connections "
            f"(worker_rlimit_nofile {sizing['nofile']}) for {cluster.streams} streams",
            file=sys.stderr,
        )
        while not stop:
            if cluster.nginx is not None and cluster.nginx.poll() is not None:
                print("nginx exited; see " + str(cluster.dir / "error.log"), file=sys.stderr)
                break
            time.sleep(0.2)


if __name__ == "__main__":
    main()
