"""The demo under each ASGI server the README names, started with the README's command.

Each server runs ``project.asgi:application`` (with ``tests.deploy.settings``: the demo's
settings, its timeouts from the environment) in a process group of its own
(``tests/deploy/servers.py``); gunicorn runs two uvicorn workers whose streams meet through
a real redis-server. Per server:

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

A client that stops reading: ``test_slow_consumer.py``; slow requests: ``test_slow_clients.py``
and ``test_nginx_slow_clients.py``.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable

import pytest

from tests.delivery.client import Crowd, Ledger, wait_until
from tests.deploy.servers import CHANNEL, COMMANDS, Server, finish, publisher

STREAMS = 500
EXIT_WITHIN_S = 10.0


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


@pytest.mark.parametrize("name", list(COMMANDS))
def test_sigterm_ends_every_stream_and_stops_the_server(
    name: str, serve: Callable[..., Server], token: str
) -> None:
    server = serve(name)
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


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_restart_mid_publish_under_client_churn_loses_doubles_and_reorders_nothing(
    name: str, serve: Callable[..., Server], token: str
) -> None:
    server = serve(name)
    ledgers = asyncio.run(_restart_under_churn(server, token))
    # Every client came back at least once (the churn, the restart), and each came back
    # to the restarted server.
    assert all(lg.connections >= 2 for lg in ledgers), [lg.connections for lg in ledgers]
    assert token not in server.output()
