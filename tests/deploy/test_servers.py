"""The demo under each ASGI server the README names, started with the README's command.

Each server runs ``project.asgi:application`` (with ``tests.deploy.settings``: the demo's
settings, a send timeout from the environment) in a process group of its own; gunicorn runs
two uvicorn workers whose streams meet through a real redis-server. Per server:

- **SIGTERM with 500 streams open**, sent to the whole group as systemd and a terminal's
  Ctrl+C send it: the server exits within 10 s (uvicorn, gunicorn's uvicorn workers,
  granian and hypercorn used to wait for the streams until killed, and Daphne cut them
  mid-body); every stream ends with a clean end of body after a ``retry:`` of its own,
  spread so the restarted server is not met by every browser at once (sse.server.shutdown); the
  token is not in what the server wrote (its access log included); no thread per stream
  (at most 20 threads per server process with 500 streams open).
- **A restart mid-publish under client churn**: clients drop their streams at random and
  come back with ``Last-Event-ID`` while another process publishes a numbered sequence;
  the server gets SIGTERM mid-publish and is started again on the same port. Every client
  ends with exactly the whole sequence, in order, nothing twice.
- **A client that stops reading** (a small socket buffer, nothing read after the opening
  block) while ~50 MB of events go out: it is cut off once a send to it has waited
  ``SSE_SEND_TIMEOUT_SECONDS`` (one INFO line, no traceback, no error from the server),
  the server's memory does not grow with what it leaves unread, a client reading the same
  channel gets every event, and the cut client, reading again, resumes with everything.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.delivery.client import Crowd, Ledger, StreamBroken, follow, open_stream, wait_until
from tests.deploy.servers import COMMANDS, Server
from tests.servers import PYTHON, ROOT, manage

STREAMS = 500
EXIT_WITHIN_S = 10.0
CHANNEL = "broadcast"  # alice may read it; each test has a database of its own
SEND_TIMEOUT_S = 3.0


# Where a server still lacks something this module checks: the test is expected to fail
# there, and strict, so the day it passes the mark has to go.
KNOWN_GAPS: dict[tuple[str, str], str] = {
    ("slow_consumer", "daphne"): (
        "plain Daphne's send() returns at once and Twisted buffers whatever the client leaves "
        "unread: no send ever waits, so there is nothing to time out and memory grows"
    ),
}


def _servers(test: str) -> list[object]:
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[(test, name)]))
        if (test, name) in KNOWN_GAPS
        else name
        for name in COMMANDS
    ]


@pytest.fixture(scope="module")
def token(template_env: dict[str, str]) -> str:
    """alice's stream token for the channel (signed, so good on every copy of the database)."""
    out = manage(
        template_env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; from sse.auth.tokens import issue_token;"
        f"print(issue_token(get_user_model().objects.get(username='alice'), [{CHANNEL!r}]).token)",
    )
    return out.stdout.strip().splitlines()[-1]


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


# --- SIGTERM with 500 streams open ---------------------------------------------------------


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


async def _open(port: int, path: str, count: int) -> tuple[list[Stream], list[asyncio.Task[None]]]:
    streams = [Stream() for _ in range(count)]
    tasks = []
    for i, s in enumerate(streams):
        tasks.append(asyncio.create_task(s.run(port, path)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(*(s.opened.wait() for s in streams)), 120)
    return streams, tasks


async def _deploy(server: Server, path: str) -> dict[str, object]:
    streams, tasks = await _open(server.port, path, STREAMS)
    await asyncio.sleep(1)
    processes = server.pids()
    threads = _threads(processes)
    statuses = sorted({s.status for s in streams})
    still_open = sum(1 for s in streams if not s.done.is_set())
    exited_after = await asyncio.to_thread(server.terminate, 30)
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


@pytest.mark.parametrize("name", _servers("sigterm"))
def test_sigterm_ends_every_stream_and_stops_the_server(name: str, serve: object, token: str) -> None:
    server: Server = serve(name)  # type: ignore[operator]
    found = asyncio.run(_deploy(server, f"/sse/stream/?channel={CHANNEL}&token={token}"))
    output = server.output()
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


# --- a restart mid-publish under client churn ----------------------------------------------

CHURN_CLIENTS = 10
CHURN_EVENTS = 600


async def _restart_under_churn(server: Server, token: str) -> list[Ledger]:
    expected = {("p", i) for i in range(CHURN_EVENTS)}
    async with Crowd(
        server.url, [CHANNEL], cookie="", token=token, count=CHURN_CLIENTS, total=CHURN_EVENTS, chaos_seed=25
    ) as crowd:
        ledgers = crowd.ledgers
        publishing = publisher(server, count=CHURN_EVENTS, delay=0.01)
        await wait_until(lambda: all(len(lg.got) >= 100 for lg in ledgers), 120, "100 events everywhere")
        exited_after = await asyncio.to_thread(server.terminate, 30)
        assert exited_after is not None, (
            f"{server.name} did not exit after SIGTERM:\n{server.output()[-3000:]}"
        )
        assert publishing.poll() is None, "the publisher finished before the restart: nothing was tested"
        at_restart = max(len(lg.got) for lg in ledgers)
        await asyncio.to_thread(server.start)  # the same port, while events keep being published
        await asyncio.to_thread(finish, publishing)
        await crowd.finished(180)
    print(f"\n{server.name}: restarted after {at_restart} of {CHURN_EVENTS} events")
    for ledger in ledgers:
        ledger.check(expected)
        assert [i for _, _, i in ledger.got] == list(range(CHURN_EVENTS))
    return ledgers


@pytest.mark.parametrize("name", _servers("restart"))
def test_a_restart_mid_publish_under_client_churn_loses_doubles_and_reorders_nothing(
    name: str, serve: object, token: str
) -> None:
    server: Server = serve(name)  # type: ignore[operator]
    ledgers = asyncio.run(_restart_under_churn(server, token))
    # Every client came back at least once (the churn, the restart), and each came back
    # to the restarted server.
    assert all(lg.connections >= 2 for lg in ledgers), [lg.connections for lg in ledgers]
    assert token not in server.output()


# --- a client that stops reading -----------------------------------------------------------

PAD = 50_000  # bytes per event
# First a trickle (10 MB, 0.5 MB/s): the slow stream's socket and the server's buffers fill
# while its queue in the hub holds far less than its bound, so a send of the stream waits
# (under a server that makes send() wait) and the send timeout, not the queue's bound, ends
# it. Then a burst (40 MB) while the server holds the unread stream, for its memory.
TRICKLE_EVENTS = 200
TRICKLE_DELAY_S = 0.1
SLOW_EVENTS = 1000  # 50 MB in all
QUEUE_MAX_BYTES = 4 * 1024 * 1024
# What the server may grow by: the streams' queues twice over (queue, chunk in flight) plus
# allocator slack: a fraction of the 50 MB published. A server that buffers what the slow
# client leaves unread grows by most of the 50 MB.
MARGIN = 4 * QUEUE_MAX_BYTES + 8 * 1024 * 1024
CUT_LINE = re.compile(
    r"cut off a (?:stream \(GET /sse/stream/, client [^)]*\)|client) that read nothing for ([\d.]+)s"
)


def _rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except FileNotFoundError:
            pass
    return total


class _Peak(threading.Thread):
    """The highest total RSS of some processes, sampled every 20 ms."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak = _rss(pids)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.02):
            self.peak = max(self.peak, _rss(self.pids))


async def _slow_consumer(server: Server, token: str) -> dict[str, object]:
    # A reader that keeps up, to show the slow one costs the others nothing.
    healthy = Ledger([CHANNEL])
    healthy_task = asyncio.create_task(
        follow(
            server.url,
            [CHANNEL],
            healthy,
            cookie="",
            token=token,
            done=lambda: len(healthy.got) >= SLOW_EVENTS,
        )
    )
    # The slow one reads the opening block, then nothing at all.
    slow = Ledger([CHANNEL])
    stream = await open_stream(server.url, [CHANNEL], token=token, receive_buffer=4096)
    items = stream.items()
    slow.take(await anext(items))
    await wait_until(lambda: healthy.positions is not None, 60, "the healthy client connected")

    pids = server.pids()
    before = _rss(pids)
    peak = _Peak(pids)
    peak.start()
    started = time.monotonic()
    await asyncio.to_thread(finish, publisher(server, count=TRICKLE_EVENTS, pad=PAD, delay=TRICKLE_DELAY_S))
    burst = publisher(server, count=SLOW_EVENTS - TRICKLE_EVENTS, start=TRICKLE_EVENTS, pad=PAD)
    await asyncio.to_thread(finish, burst)
    published_after = time.monotonic() - started
    await asyncio.wait_for(healthy_task, 300)
    # A cut comes SSE_SEND_TIMEOUT_SECONDS after a send began to wait, whenever that was:
    # waited for here, not timed (a busy machine publishes slowly).
    cut = None
    deadline = time.monotonic() + 60
    while cut is None and time.monotonic() < deadline:
        cut = CUT_LINE.search(server.output())
        if cut is None:
            await asyncio.sleep(0.1)
    peak.stopped.set()
    peak.join()
    mib = 1024 * 1024
    print(
        f"\n{server.name}: published {SLOW_EVENTS * PAD / 1e6:.0f} MB in {published_after:.1f}s; "
        f"RSS of {len(pids)} processes before {before / mib:.1f} MiB, peak {peak.peak / mib:.1f} MiB "
        f"(margin {MARGIN / mib:.0f} MiB); cut: {cut.group(0) if cut else None}"
    )

    healthy.check({("p", i) for i in range(SLOW_EVENTS)})
    found: dict[str, object] = {
        "cut after": float(cut.group(1)) if cut else None,
        "server grew by less than the margin": peak.peak - before < MARGIN,
    }
    if cut is None:
        stream.abort()
        return found

    # Reading again: what was in flight, then the end of the connection (no last chunk).
    got_before_cut = 0
    ended = "open"
    try:
        async with asyncio.timeout(60):
            async for item in items:
                slow.take(item)
                got_before_cut += item.data is not None
            ended = "clean end"
    except StreamBroken:
        ended = "cut"
    except TimeoutError:
        ended = "still open after 60 s of reading"
    finally:
        stream.abort()
    # It resumes from its last id and gets the rest.
    await asyncio.wait_for(
        follow(
            server.url, [CHANNEL], slow, cookie="", token=token, done=lambda: len(slow.got) >= SLOW_EVENTS
        ),
        180,
    )
    slow.check({("p", i) for i in range(SLOW_EVENTS)})
    found["the slow stream"] = ended
    found["events the slow client got before the cut"] = "some" if got_before_cut < SLOW_EVENTS else "all"
    return found


@pytest.mark.parametrize("name", _servers("slow_consumer"))
def test_a_client_that_stops_reading_is_cut_off_without_growing_memory(
    name: str, serve: object, token: str
) -> None:
    server: Server = serve(name, SSE_SEND_TIMEOUT_SECONDS=str(SEND_TIMEOUT_S))  # type: ignore[operator]
    found = asyncio.run(_slow_consumer(server, token))
    output = server.output()
    assert found == {
        "cut after": SEND_TIMEOUT_S,
        "server grew by less than the margin": True,
        "the slow stream": "cut",
        "events the slow client got before the cut": "some",
    }, output[-3000:]
    assert len(CUT_LINE.findall(output)) == 1, output[-3000:]
    assert_quiet(output)
    assert token not in output
