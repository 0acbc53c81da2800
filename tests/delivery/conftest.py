"""Fixtures for the delivery tests: a throwaway PostgreSQL cluster, sites, publishers."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers import PYTHON, ROOT, DaphneServer, free_port, manage, project_env, wait_for_port

SETTINGS = "tests.delivery.settings"


def _postgres_bin() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3].split(".")[0])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    pytest.fail("PostgreSQL is not installed: scripts/system-packages installs Debian's postgresql")


class PostgresCluster:
    """A cluster in a temp dir on a free port, run by an unprivileged user, gone after."""

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="sse-pg-"))
        self.data = self.dir / "data"
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: hand the directory to the postgres user.
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresCluster:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.dir / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def create_database(self) -> str:
        import psycopg

        name = "sse_" + uuid.uuid4().hex[:12]
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@dataclass
class DeliverySite:
    """tests.delivery.settings under Daphne, on a SQLite copy or a PostgreSQL database.

    Its sessions (alice's, a staff user's) are minted in a subprocess and kept as Cookie
    headers; it starts publisher processes and restarts its server. Not tests/sse's
    ``Site`` (tests/sse_app, users signing in over HTTP, httpx clients): the two share only
    a DaphneServer, and tests/sse must not depend on the project's settings.
    """

    server: DaphneServer
    env: dict[str, str]
    cookie: str = ""
    staff_cookie: str = ""
    publishers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def restart(self) -> None:
        self.server.start()

    def stats(self) -> dict[str, object]:
        """The hub figures of the server process (GET /api/sse/stats/ as staff)."""
        import httpx

        answer = httpx.get(self.url + "/api/sse/stats/", headers={"Cookie": self.staff_cookie}, timeout=20)
        answer.raise_for_status()
        return answer.json()  # type: ignore[no-any-return]

    def publisher(
        self, channels: list[str], *, tag: str, count: int, **options: object
    ) -> subprocess.Popen[bytes]:
        """Start ``python -m tests.delivery.publisher`` (see its options)."""
        args = [PYTHON, "-m", "tests.delivery.publisher", "--tag", tag, "--count", str(count)]
        for name, value in options.items():
            flag = "--" + name.replace("_", "-")
            args += [flag] if value is True else [flag, str(value)]
        proc = subprocess.Popen(
            [*args, *channels], cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.publishers.append(proc)
        return proc


def _session(env: dict[str, str], username: str, *, staff: bool = False) -> str:
    """A Cookie header value for a signed-in session of ``username``."""
    args = [PYTHON, "-m", "tests.delivery.accounts", username] + (["--staff"] if staff else [])
    out = subprocess.run(args, cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=120)
    return out.stdout.strip()


def _prepare(env: dict[str, str]) -> tuple[str, str]:
    """Migrate; sessions for alice and a staff user."""
    manage(env, "migrate", "--noinput", "-v0")
    return _session(env, "alice"), _session(env, "staff", staff=True)


@dataclass
class _Template:
    path: Path
    cookie: str
    staff_cookie: str


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> _Template:
    """One migrated SQLite database with sessions, copied for each site: migrating is slow."""
    path = tmp_path_factory.mktemp("template") / "db.sqlite3"
    cookie, staff_cookie = _prepare(project_env(f"sqlite:///{path}", settings=SETTINGS))
    return _Template(path, cookie, staff_cookie)


def finish(proc: subprocess.Popen[bytes], timeout: float = 180) -> str:
    out, _ = proc.communicate(timeout=timeout)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, f"publisher failed ({proc.returncode}):\n{text[-3000:]}"
    return text


@pytest.fixture
def make_site(tmp_path: Path, sqlite_template: _Template) -> Iterator[object]:
    """``make_site(database_url=None, **env) -> DeliverySite``: SQLite unless a URL is given.

    Everything it starts is stopped after the test.
    """
    sites: list[DeliverySite] = []

    def make(database_url: str | None = None, **extra: str) -> DeliverySite:
        settings = {"SSE_MAX_STREAMS_PER_USER": "0", "SSE_HEARTBEAT_SECONDS": "2", "SSE_LOG_LEVEL": "WARNING"}
        if database_url is None:
            path = tmp_path / f"db{len(sites)}.sqlite3"
            shutil.copyfile(sqlite_template.path, path)
            env = project_env(f"sqlite:///{path}", settings=SETTINGS, **{**settings, **extra})
            cookie, staff_cookie = sqlite_template.cookie, sqlite_template.staff_cookie
        else:
            env = project_env(database_url, settings=SETTINGS, **{**settings, **extra})
            cookie, staff_cookie = _prepare(env)
        server = DaphneServer(env, log_path=tmp_path / f"daphne{len(sites)}.log")
        site = DeliverySite(server, env, cookie, staff_cookie)
        sites.append(site)
        server.start()
        return site

    yield make
    for site in sites:
        for proc in site.publishers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        site.server.stop()


def fresh_channels(kind: str, count: int = 3) -> list[str]:
    """Fresh channel names (sorted, as a stream orders them)."""
    token = uuid.uuid4().hex[:8]
    return sorted(f"test.{kind}-{token}-{n}" for n in range(count))
