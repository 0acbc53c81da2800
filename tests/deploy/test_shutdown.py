"""A deploy under each ASGI server the README names: SIGTERM with 500 streams open.

Each server runs the demo (``project.asgi:application``) with the README's command for it,
in a process group of its own, and gets SIGTERM to the whole group, as systemd and a
terminal's Ctrl+C send it. 500 streams read a quiet channel with a stream token. Then:

- the server exits within 10 s (uvicorn, gunicorn's uvicorn workers, granian and hypercorn
  used to wait for the streams until killed, and Daphne cut them mid-body);
- every stream ends with a clean end of body after a ``retry:`` of its own, spread so the
  restarted server is not met by every browser at once (sse.shutdown);
- the token is not in what the server wrote (its access log included);
- no thread per stream: at most 20 threads per server process with 500 streams open
  (Django's own handler would hold one per stream); pools that start threads as work
  comes (asyncio's default executor) stay within that.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ROOT, RedisServer, free_port, manage, prepare_database, project_env, wait_for_port

STREAMS = 500
EXIT_WITHIN_S = 10.0


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


@pytest.fixture(scope="module")
def site_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("deploy")
    env = project_env(
        f"sqlite:///{tmp / 'db.sqlite3'}",
        SSE_MAX_STREAMS_PER_USER="0",
        SSE_SHUTDOWN_RETRY_SPREAD_MS="3000",
    )
    prepare_database(env)
    return env


@pytest.fixture(scope="module")
def token(site_env: dict[str, str]) -> str:
    out = manage(
        site_env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; from sse.tokens import issue_token;"
        "print(issue_token(get_user_model().objects.get(username='alice'), ['broadcast']).token)",
    )
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


class Stream:
    """One raw HTTP/1.1 stream request and every byte of its answer."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.opened = asyncio.Event()
        self.done = asyncio.Event()

    async def run(self, port: int, path: str) -> None:
        writer = None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
            )
            while chunk := await reader.read(65536):
                self.data += chunk
                if b"\r\n\r\n" in self.data and self.data.split(b"\r\n\r\n", 1)[1]:
                    self.opened.set()
                if self.clean:
                    break
        except OSError:
            pass
        finally:
            self.opened.set()
            self.done.set()
            if writer is not None:
                writer.close()

    @property
    def status(self) -> int:
        m = re.match(rb"HTTP/1.1 (\d+)", bytes(self.data))
        return int(m.group(1)) if m else 0

    @property
    def clean(self) -> bool:
        return self.data.endswith(b"\r\n0\r\n\r\n")

    @property
    def retries(self) -> list[int]:
        return [int(v) for v in re.findall(rb"\nretry: ?(\d+)", b"\n" + bytes(self.data))]


def _threads(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += len(os.listdir(f"/proc/{pid}/task"))
        except FileNotFoundError:
            pass
    return total


def _group(pid: int) -> list[int]:
    """The pids of the server's process group (the server and its workers)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pid:
                    pids.append(int(entry))
            except ProcessLookupError:
                pass
    return pids


async def _open(port: int, path: str, count: int) -> tuple[list[Stream], list[asyncio.Task[None]]]:
    streams = [Stream() for _ in range(count)]
    tasks = []
    for i, s in enumerate(streams):
        tasks.append(asyncio.create_task(s.run(port, path)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(*(s.opened.wait() for s in streams)), 120)
    return streams, tasks


async def _deploy(proc: subprocess.Popen[bytes], port: int, path: str) -> dict[str, object]:
    streams, tasks = await _open(port, path, STREAMS)
    await asyncio.sleep(1)
    processes = _group(proc.pid)
    threads = _threads(processes)
    statuses = sorted({s.status for s in streams})
    still_open = sum(1 for s in streams if not s.done.is_set())
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGTERM)
    exited_after = None
    while time.monotonic() - sent < 30:
        if proc.poll() is not None:
            exited_after = time.monotonic() - sent
            break
        await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(*(s.done.wait() for s in streams)), 30)
    await asyncio.gather(*tasks, return_exceptions=True)
    ended_with_retry = [s for s in streams if s.clean and len(s.retries) >= 2]
    return {
        "statuses": statuses,
        "open before SIGTERM": still_open,
        "exited within 10 s": exited_after is not None and exited_after <= EXIT_WITHIN_S,
        "clean ends with a shutdown retry": len(ended_with_retry),
        "spread": len({s.retries[-1] for s in ended_with_retry}) > STREAMS // 10,
        "threads flat": threads <= 20 * len(processes),
        "_detail": f"exited after {exited_after}s; {threads} threads in {len(processes)} processes",
    }


@pytest.mark.parametrize("server", list(COMMANDS))
def test_sigterm_ends_every_stream_and_stops_the_server(
    server: str, site_env: dict[str, str], token: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = dict(site_env)
    if server == "gunicorn":  # two processes: their streams meet through Redis
        env["REDIS_URL"] = request.getfixturevalue("redis").url
    port = free_port()
    command = [part.format(port=port) for part in COMMANDS[server]]
    command[0] = _bin(command[0])
    log_path = tmp_path / f"{server}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for_port(port, timeout=60, proc=proc)
        path = f"/sse/stream/?channel=broadcast&token={token}"
        found = asyncio.run(_deploy(proc, port, path))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = log_path.read_text(errors="replace")
    detail = found.pop("_detail")
    found["token in the server's output"] = token in output
    assert found == {
        "statuses": [200],
        "open before SIGTERM": STREAMS,
        "exited within 10 s": True,
        "clean ends with a shutdown retry": STREAMS,
        "spread": True,
        "threads flat": True,
        "token in the server's output": False,
    }, f"{detail}\n{output[-3000:]}"
