"""Real processes for tests: Daphne serving a project, redis-server, a browser.

Every helper here starts a real server on a free loopback port and stops it
after; nothing is mocked.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


# The demo project as the suite serves it: project.settings with a fast password hasher.
SITE_SETTINGS = "tests.site_settings"


def project_env(database_url: str, settings: str = SITE_SETTINGS, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        DJANGO_SETTINGS_MODULE=settings,
        DATABASE_URL=database_url,
        SECRET_KEY="test-secret-key-for-subprocess-servers",
        DEBUG="0",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "django", *args],
        cwd=ROOT,
        env=env,
        check=check,
        capture_output=True,
        text=True,
        timeout=120,
    )


# The folder where a test run keeps its template databases. tests/conftest.py names one
# folder for all the pytest processes of a run (pytest-xdist's workers inherit it); a
# process started without it makes its own.
TEMPLATES_ENV = "PYTEST_SSE_DB_TEMPLATES"
_own_templates: Path | None = None


def _templates_dir() -> Path:
    global _own_templates
    shared = os.environ.get(TEMPLATES_ENV)
    if shared:
        return Path(shared)
    if _own_templates is None:
        _own_templates = Path(tempfile.mkdtemp(prefix="sse-db-templates-"))
        atexit.register(shutil.rmtree, _own_templates, True)
    return _own_templates


def share_templates(config: object) -> None:
    """From a pytest_configure hook: one templates folder for the run's pytest processes,
    removed when the run ends. pytest-xdist's workers inherit it from the controller."""
    if os.environ.get(TEMPLATES_ENV):
        return
    folder = tempfile.mkdtemp(prefix="sse-db-templates-")
    os.environ[TEMPLATES_ENV] = folder

    def remove() -> None:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(TEMPLATES_ENV, None)

    config.add_cleanup(remove)  # type: ignore[attr-defined]


def copy_of_template(env: dict[str, str], target: Path, steps: list[list[str]], *, db_var: str) -> list[str]:
    """Put at ``target`` a SQLite database made by the ``manage`` commands ``steps``.

    The commands run once per test run for a settings module (and PYTHONPATH), on a
    template file kept in the run's templates folder; every site after the first gets
    a copy. ``db_var`` is the variable that names the database in ``env``
    (``DATABASE_URL`` as a sqlite:/// URL, or ``SSE_APP_DB`` as a path). Returns what each
    command printed (the first time), so callers can read ids from it.
    """
    key = json.dumps(
        [env["DJANGO_SETTINGS_MODULE"], env.get("PYTHONPATH", ""), env.get("DEMO_PASSWORD"), steps]
    )
    name = hashlib.sha256(key.encode()).hexdigest()[:16]
    folder = _templates_dir()
    template, printed = folder / f"{name}.sqlite3", folder / f"{name}.json"
    with open(folder / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder per template among the run's processes
        if not printed.exists():
            build = {k: v for k, v in env.items() if k != "REDIS_URL"}
            build[db_var] = f"sqlite:///{template}" if db_var == "DATABASE_URL" else str(template)
            outputs = [manage(build, *step).stdout for step in steps]
            printed.write_text(json.dumps(outputs))  # last: the template is complete
    shutil.copyfile(template, target)
    return list(json.loads(printed.read_text()))


def prepare_database(env: dict[str, str], seed: bool = True) -> None:
    """Migrate (and seed with the demo's users and rooms) the database of ``env``.

    A SQLite file is a copy of the run's template (``copy_of_template``); PostgreSQL is
    migrated and seeded in place.
    """
    steps = [["migrate", "--noinput", "-v0"]] + ([["seed_demo"]] if seed else [])
    url = env["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        copy_of_template(env, Path(url.removeprefix("sqlite:///")), steps, db_var="DATABASE_URL")
        return
    for step in steps:
        manage(env, *step)


@dataclass
class DaphneServer:
    """``python -m sse.daphne`` serving ``asgi`` on a free port."""

    env: dict[str, str]
    asgi: str = "project.asgi:application"
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DaphneServer:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "sse.daphne", "-b", "127.0.0.1", "-p", str(self.port), self.asgi],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # A suite started in the background inherits an ignored SIGINT, and Twisted
            # leaves an ignored SIGINT alone: give the server the default, as a shell would.
            preexec_fn=_default_sigint,
        )
        wait_for_port(self.port, proc=self.proc)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def __enter__(self) -> DaphneServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""


@dataclass
class RedisServer:
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, proc=self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
