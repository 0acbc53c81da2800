"""A client that stops reading, under each ASGI server the README names.

Each server runs the README's command (``tests/deploy/servers.py``) with
``SSE_SEND_TIMEOUT_SECONDS`` at 3 s. One client opens a stream with a small socket buffer
and reads nothing after the opening block while ~50 MB of events go out: it is cut off once
a send to it has waited ``SSE_SEND_TIMEOUT_SECONDS`` (one INFO line, no traceback, no error
from the server), the server's memory does not grow with what it leaves unread, a client
reading the same channel gets every event, and the cut client, reading again, resumes with
everything.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path

import pytest

from tests.delivery.client import Event, Ledger, StreamBroken, follow, open_stream, wait_until
from tests.deploy.servers import CHANNEL, COMMANDS, Server, assert_quiet, finish, publisher

SEND_TIMEOUT_S = 3.0

# Where a server lacks this: the test is expected to fail there, and strict, so the day it
# passes the mark has to go.
KNOWN_GAPS = {
    "daphne": (
        "plain Daphne's send() returns at once and Twisted buffers whatever the client leaves "
        "unread: no send ever waits, so there is nothing to time out and memory grows"
    ),
}

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


async def _wait_for_cut(server: Server) -> re.Match[str] | None:
    """The cut's log line: it comes SSE_SEND_TIMEOUT_SECONDS after a send began to wait,
    whenever that was, so it is waited for here, not timed (a busy machine publishes slowly)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if cut := CUT_LINE.search(server.output()):
            return cut
        await asyncio.sleep(0.1)
    return None


async def _publish(server: Server, healthy: asyncio.Task[None]) -> tuple[re.Match[str] | None, bool]:
    """The 50 MB published and read by the healthy client; the cut, and whether the server's
    memory stayed within the margin meanwhile."""
    pids = server.pids()
    before = _rss(pids)
    peak = _Peak(pids)
    peak.start()
    started = time.monotonic()
    await asyncio.to_thread(finish, publisher(server, count=TRICKLE_EVENTS, pad=PAD, delay=TRICKLE_DELAY_S))
    burst = publisher(server, count=SLOW_EVENTS - TRICKLE_EVENTS, start=TRICKLE_EVENTS, pad=PAD)
    await asyncio.to_thread(finish, burst)
    published_after = time.monotonic() - started
    await asyncio.wait_for(healthy, 300)
    cut = await _wait_for_cut(server)
    peak.stopped.set()
    peak.join()
    mib = 1024 * 1024
    print(
        f"\n{server.name}: published {SLOW_EVENTS * PAD / 1e6:.0f} MB in {published_after:.1f}s; "
        f"RSS of {len(pids)} processes before {before / mib:.1f} MiB, peak {peak.peak / mib:.1f} MiB "
        f"(margin {MARGIN / mib:.0f} MiB); cut: {cut.group(0) if cut else None}"
    )
    return cut, peak.peak - before < MARGIN


async def _read_again(items: AsyncIterator[Event], slow: Ledger) -> tuple[str, int]:
    """Reading again: what was in flight, then the end of the connection (no last chunk)."""
    got_before_cut = 0
    try:
        async with asyncio.timeout(60):
            async for item in items:
                slow.take(item)
                got_before_cut += item.data is not None
            return "clean end", got_before_cut
    except StreamBroken:
        return "cut", got_before_cut
    except TimeoutError:
        return "still open after 60 s of reading", got_before_cut


def _following(server: Server, ledger: Ledger, token: str) -> Coroutine[object, object, None]:
    """A reader of the channel until ``ledger`` has every event (resuming from its last id)."""
    return follow(
        server.url, [CHANNEL], ledger, cookie="", token=token, done=lambda: len(ledger.got) >= SLOW_EVENTS
    )


async def _slow_consumer(server: Server, token: str) -> dict[str, object]:
    # A reader that keeps up, to show the slow one costs the others nothing.
    healthy = Ledger([CHANNEL])
    healthy_task = asyncio.create_task(_following(server, healthy, token))
    # The slow one reads the opening block, then nothing at all.
    slow = Ledger([CHANNEL])
    stream = await open_stream(server.url, [CHANNEL], token=token, receive_buffer=4096)
    items = stream.items()
    slow.take(await anext(items))
    await wait_until(lambda: healthy.positions is not None, 60, "the healthy client connected")
    cut, within_margin = await _publish(server, healthy_task)
    healthy.check({("p", i) for i in range(SLOW_EVENTS)})
    found: dict[str, object] = {
        "cut after": float(cut.group(1)) if cut else None,
        "server grew by less than the margin": within_margin,
    }
    if cut is None:
        stream.abort()
        return found
    try:
        ended, got_before_cut = await _read_again(items, slow)
    finally:
        stream.abort()
    # It resumes from its last id and gets the rest.
    await asyncio.wait_for(_following(server, slow, token), 180)
    slow.check({("p", i) for i in range(SLOW_EVENTS)})
    found["the slow stream"] = ended
    found["events the slow client got before the cut"] = "some" if got_before_cut < SLOW_EVENTS else "all"
    return found


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[name]))
        if name in KNOWN_GAPS
        else name
        for name in COMMANDS
    ],
)
def test_a_client_that_stops_reading_is_cut_off_without_growing_memory(
    name: str, serve: Callable[..., Server], token: str
) -> None:
    server = serve(name, SSE_SEND_TIMEOUT_SECONDS=str(SEND_TIMEOUT_S))
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
