"""nginx running the repository's site file, ``deploy/nginx/django-sse.conf``, in front of a server.

``deploy/nginx/django-sse.conf`` goes inside nginx's ``http`` block. :class:`NginxSite` renders
it into a temp dir as it is, but for what only a real install knows: ``listen`` on a free
loopback port, the ``upstream`` pointed at the given ports, the path of ``sse-proxy.conf``;
it wraps it in the smallest ``nginx.conf`` that runs it (one worker, ``daemon off``, logs and
temp paths in the dir, ``worker_rlimit_nofile`` what this process may give, at most 65,536).
``site`` renders another copy of the file (an older commit's). ``timeouts`` replaces the
value of one of the site's directives (``{"client_header_timeout": "3s"}``); ``None`` as the
value drops the line, so nginx's default applies. Every replaced directive must be in the
file: a site file that lost one fails the render instead of testing nothing.

``python -m bench.nginx_site --upstream 8000`` runs it in the foreground until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from bench.cluster import DEPLOY, NGINX, nofile_limit, raise_nofile
from tests.servers import free_port, wait_for_port

__all__ = ["SITE", "NginxSite", "render_site"]

SITE = DEPLOY / "django-sse.conf"
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")

MAIN = """daemon off;
master_process on;
$user
worker_processes 1;
worker_rlimit_nofile $nofile;
pid $prefix/nginx.pid;
error_log $prefix/error.log info;
events { worker_connections $connections; }
http {
    default_type application/octet-stream;
    access_log $prefix/access.log;
    client_body_temp_path $prefix/client_body;
    proxy_temp_path $prefix/proxy;
    fastcgi_temp_path $prefix/fastcgi;
    uwsgi_temp_path $prefix/uwsgi;
    scgi_temp_path $prefix/scgi;
    include $prefix/site.conf;
}
"""


def _replace_once(text: str, pattern: str, new: str) -> str:
    result, count = re.subn(pattern, new, text, flags=re.MULTILINE)
    if count != 1:
        raise ValueError(f"the site file: {pattern!r} matched {count} times, not once")
    return result


def render_site(
    port: int, upstreams: list[int], timeouts: Mapping[str, str | None] | None = None, site: Path = SITE
) -> str:
    """The site file as nginx on ``port`` in front of ``upstreams`` runs it."""
    text = site.read_text()
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in upstreams)
    text = _replace_once(text, r"^(    server 127\.0\.0\.1:\d+;\n)+", servers)
    text = _replace_once(text, r"^    listen 80;$", f"    listen 127.0.0.1:{port};")
    text = _replace_once(text, r"/etc/nginx/snippets/sse-proxy\.conf", str(DEPLOY / "sse-proxy.conf"))
    for directive, value in (timeouts or {}).items():
        line = f"    {directive} {value};" if value is not None else ""
        text = _replace_once(text, rf"^    {re.escape(directive)} \S+;$", line)
    return text


class NginxSite:
    """nginx serving :data:`SITE` on ``port`` in front of ``upstreams`` (a context manager)."""

    def __init__(
        self,
        upstreams: list[int],
        *,
        port: int | None = None,
        timeouts: Mapping[str, str | None] | None = None,
        site: Path = SITE,
    ) -> None:
        self.upstreams = upstreams
        self.site = site
        self.port = port or free_port()
        self.timeouts = dict(timeouts or {})
        self.dir = Path(tempfile.mkdtemp(prefix="sse-nginx-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> NginxSite:
        raise_nofile()  # nginx inherits it: two descriptors per proxied connection
        (self.dir / "site.conf").write_text(render_site(self.port, self.upstreams, self.timeouts, self.site))
        (self.dir / "nginx.conf").write_text(self._main())
        prefix = str(self.dir)
        self.proc = subprocess.Popen(
            [NGINX, "-p", prefix, "-c", f"{prefix}/nginx.conf", "-e", f"{prefix}/error.log"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(self.port, proc=self.proc)
        except BaseException:
            self.stop()
            raise
        return self

    def _main(self) -> str:
        user = ""
        for sub in TEMP_DIRS:
            (self.dir / sub).mkdir(exist_ok=True)
        if os.geteuid() == 0:  # nginx drops its worker to nobody: give it the temp dirs
            user = "user nobody nogroup;"
            os.chmod(self.dir, 0o755)
            for sub in TEMP_DIRS:
                shutil.chown(self.dir / sub, "nobody", "nogroup")
        limit = min(nofile_limit(), 65536)
        values = {"user": user, "prefix": str(self.dir), "nofile": str(limit), "connections": str(limit - 64)}
        return re.sub(r"\$(user|prefix|nofile|connections)", lambda m: values[m.group(1)], MAIN)

    def error_log(self) -> str:
        path = self.dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access_log(self) -> str:
        path = self.dir / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # fast shutdown: slow clients are not waited for
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> NginxSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", type=int, action="append", required=True, help="a server's port")
    parser.add_argument("--port", type=int, default=None, help="nginx's port (default: a free one)")
    parser.add_argument("--site", type=Path, default=SITE, help=f"the site file (default {SITE})")
    args = parser.parse_args()
    with NginxSite(args.upstream, port=args.port, site=args.site) as site:
        print(f"nginx on 127.0.0.1:{site.port} -> {args.upstream}; {args.site} (Ctrl-C stops)", flush=True)
        try:
            while site.proc is not None and site.proc.poll() is None:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
