"""The servers tests/deploy runs: each with the README's command, in a process group of its own.

:data:`COMMANDS` holds the README's command for each server (``{port}``: the test's);
:class:`Server` runs one of them on the demo, restartable on the same port, its output in a
file; :func:`publisher` publishes a numbered sequence to :data:`CHANNEL` from another
process. The fixtures that start them are in ``conftest.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import PYTHON, ROOT, free_port, wait_for_port

__all__ = ["CHANNEL", "COMMANDS", "Server", "assert_quiet", "finish", "publisher"]

CHANNEL = "broadcast"  # alice may read it; each test has a database of its own


def _bin(name: str) -> str:
    """A console script of the venv running the tests (``python``: that interpreter)."""
    return sys.executable if name == "python" else str(Path(sys.executable).parent / name)


# The README's command for each server, on a port of the test's choosing.
COMMANDS: dict[str, list[str]] = {
    "uvicorn": ["uvicorn", "project.asgi:application", "--host", "127.0.0.1", "--port", "{port}"],
    "gunicorn": [
        "gunicorn",
        "project.asgi:application",
        "-k",
        "uvicorn_worker.UvicornWorker",
        "-w",
        "2",
        "-b",
        "127.0.0.1:{port}",
    ],
    "granian": [
        "granian",
        "--interface",
        "asgi",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "project.asgi:application",
    ],
    "hypercorn": ["hypercorn", "-b", "127.0.0.1:{port}", "project.asgi:application"],
    "daphne": [
        "daphne",
        "--access-log",
        "/dev/null",
        "-b",
        "127.0.0.1",
        "-p",
        "{port}",
        "project.asgi:application",
    ],
    "sse.daphne": [
        "python",
        "-m",
        "sse.daphne",
        "-b",
        "127.0.0.1",
        "-p",
        "{port}",
        "project.asgi:application",
    ],
}


@dataclass
class Server:
    """One of COMMANDS serving the demo on a fixed port, restartable, its output in a file."""

    name: str
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        command = [part.format(port=self.port) for part in COMMANDS[self.name]]
        command[0] = _bin(command[0])
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for_port(self.port, timeout=60, proc=self.proc)
        return self

    def terminate(self, within: float = 30.0) -> float | None:
        """SIGTERM to the process group; seconds until the server exited (None: not within ``within``)."""
        assert self.proc is not None
        sent = time.monotonic()
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=within)
        except subprocess.TimeoutExpired:
            return None
        return time.monotonic() - sent

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def pids(self) -> list[int]:
        """The server's process group: the server and its workers."""
        assert self.proc is not None
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getpgid(int(entry)) == self.proc.pid:
                        pids.append(int(entry))
                except ProcessLookupError:
                    pass
        return pids

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def publisher(server: Server, *, count: int, **options: object) -> subprocess.Popen[bytes]:
    """``python -m tests.delivery.publisher`` on the server's database (and Redis): events
    ``{"p": "p", "i": n, "c": channel}`` for n in 0..count-1, in that order."""
    args = [PYTHON, "-m", "tests.delivery.publisher", "--tag", "p", "--count", str(count)]
    for name, value in options.items():
        args += ["--" + name.replace("_", "-"), str(value)]
    return subprocess.Popen(
        [*args, CHANNEL], cwd=ROOT, env=server.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def finish(proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, (
        f"publisher failed ({proc.returncode}):\n{out.decode(errors='replace')[-3000:]}"
    )


def assert_quiet(output: str) -> None:
    """Nothing went wrong in a way the server had to report."""
    for noise in ("Traceback", "Exception in ASGI application", "returned without completing response"):
        assert noise not in output, f"{noise!r} in the server's output:\n{output[-3000:]}"
