"""Streams held by several client processes, for more than one process may open.

A process holds one descriptor per stream, and may not raise its limit past the hard
``RLIMIT_NOFILE`` it inherited (in a container, root often may not either). Past that,
``ShardedLoad`` splits the streams over ``shards`` child processes (``python -m
bench.loadshards``, each a ``bench.sseload.Load``) and offers what ``bench.run`` uses of
``Load``: ``connect``, ``refresh`` + ``open_count``, ``wait_for``, ``arrivals``, ``lost``,
``repeats``, ``close_all``. Arrival times are ``time.perf_counter()`` in each child:
CLOCK_MONOTONIC on Linux, one clock for every process, so they compare with the parent's.

The parent talks to each child in JSON lines over its stdin and stdout.
"""

from __future__ import annotations

import asyncio
import json
import math
import resource
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.sseload import ConnectResult, Load

__all__ = ["ShardedLoad", "client_processes"]

ROOT = Path(__file__).resolve().parent.parent
# Descriptors a client process has open besides its streams (stdio, the loop, the
# publish and login connections).
MARGIN = 200


def client_processes(streams: int) -> int:
    """How many client processes hold ``streams`` within this process's hard file limit."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        return 1
    return max(1, math.ceil((streams + MARGIN) / (hard - MARGIN)))


class ShardedLoad:
    """``Load``'s interface over ``shards`` child processes."""

    def __init__(self, shards: int) -> None:
        self.shards = shards
        self.procs: list[asyncio.subprocess.Process] = []
        self.arrivals: defaultdict[int, list[float]] = defaultdict(list)
        self.counts = [0] * shards  # open streams per child, as of the last answer
        self.lost = 0
        self.repeats = 0
        self._lost = [0] * shards
        self._repeats = [0] * shards

    async def start(self) -> ShardedLoad:
        for _ in range(self.shards):
            self.procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bench.loadshards",
                    cwd=ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    # An answer carries a broadcast's arrival times: a line of up to ~20 bytes a stream.
                    limit=1 << 26,
                )
            )
        return self

    async def _ask(self, index: int, command: dict[str, Any]) -> dict[str, Any]:
        proc = self.procs[index]
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(command).encode() + b"\n")
        await proc.stdin.drain()
        line = await proc.stdout.readline()
        if not line:
            raise RuntimeError(f"load client {index} exited ({await proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        self.counts[index] = answer["open"]
        self._lost[index] = answer["lost"]
        self._repeats[index] = answer["repeats"]
        self.lost, self.repeats = sum(self._lost), sum(self._repeats)
        return answer

    @property
    def open_count(self) -> int:
        return sum(self.counts)

    async def refresh(self) -> None:
        """Bring ``open_count`` up to date (the children count their own streams)."""
        await asyncio.gather(*(self._ask(i, {"op": "status"}) for i in range(self.shards)))

    async def connect(
        self, port: int, request: bytes, count: int, *, concurrency: int = 50, timeout: float = 120.0
    ) -> ConnectResult:
        """``count`` more streams split over the children, ``concurrency`` in flight in all."""
        counts = [count // self.shards + (i < count % self.shards) for i in range(self.shards)]
        each = max(1, concurrency // self.shards)
        answers = await asyncio.gather(
            *(
                self._ask(
                    i,
                    {
                        "op": "connect",
                        "port": port,
                        "request": request.decode("latin-1"),
                        "count": n,
                        "concurrency": each,
                        "timeout": timeout,
                    },
                )
                for i, n in enumerate(counts)
            )
        )
        statuses: defaultdict[int, int] = defaultdict(int)
        for answer in answers:
            for status, n in answer["statuses"].items():
                statuses[int(status)] += n
        return ConnectResult(
            sum(a["opened"] for a in answers),
            sum(a["failed"] for a in answers),
            # They ran side by side: the whole took as long as the slowest.
            max(a["seconds"] for a in answers),
            dict(statuses),
        )

    async def wait_for(self, number: int, receivers: int, timeout: float) -> bool:
        """Until every child's streams (as of the last ``refresh``) saw ``number``.

        ``receivers`` is ``open_count`` at that ``refresh``: each child waits for its share.
        """
        shares = list(self.counts)
        if sum(shares) != receivers:
            raise ValueError(f"{receivers} receivers, but the children hold {shares}: refresh first")
        answers = await asyncio.gather(
            *(
                self._ask(i, {"op": "wait", "number": number, "receivers": n, "timeout": timeout})
                for i, n in enumerate(shares)
            )
        )
        times = self.arrivals[number]
        for answer in answers:
            times.extend(answer["times"])
        return all(a["complete"] for a in answers)

    def close_all(self) -> None:
        for proc in self.procs:
            if proc.returncode is None and proc.stdin is not None:
                proc.stdin.write(b'{"op": "close"}\n')
                proc.stdin.close()
        self.procs.clear()

    async def stop(self) -> None:
        procs = list(self.procs)
        self.close_all()
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _serve() -> None:
    """A child: one ``Load``, driven by JSON lines on stdin."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    load = Load()

    def answer(**fields: Any) -> None:
        fields.update(open=load.open_count, lost=load.lost, repeats=load.repeats)
        sys.stdout.write(json.dumps(fields) + "\n")
        sys.stdout.flush()

    while line := await reader.readline():
        command = json.loads(line)
        op = command["op"]
        if op == "connect":
            result = await load.connect(
                command["port"],
                command["request"].encode("latin-1"),
                command["count"],
                concurrency=command["concurrency"],
                timeout=command["timeout"],
            )
            answer(
                opened=result.opened, failed=result.failed, seconds=result.seconds, statuses=result.statuses
            )
        elif op == "wait":
            complete = await load.wait_for(command["number"], command["receivers"], command["timeout"])
            answer(complete=complete, times=load.arrivals.pop(command["number"], []))
        elif op == "status":
            answer()
        elif op == "close":
            break
    load.close_all()


def main() -> None:
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        runner.run(_serve())


if __name__ == "__main__":
    main()
