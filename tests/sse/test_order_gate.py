"""OrderGate: live events of streams over several channels go out in the log's row order."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sse.hub.order import OrderGate
from sse.hub.stats import Counts
from sse.storage.base import LoggedEvent, LogRow


@dataclass
class Group:
    multi: int
    last_seq: int = 0
    joining: bool = False


def _gate(groups: dict[str, Group], log: dict[int, tuple[str, int]]) -> tuple[OrderGate, list[Any]]:
    """A gate over ``groups`` and a log of ``{row: (channel, seq)}``; what it delivers, in order."""
    delivered: list[Any] = []

    async def run(fn: Any, *args: Any) -> Any:
        if fn.__name__ == "rows":
            after, upto, limit = args
            return [LogRow(row, *log[row]) for row in sorted(log) if after < row <= upto][:limit]
        assert fn.__name__ == "read_rows"
        return [LoggedEvent(*log[row], "test", "{}", None, None, row) for row in args[0]]

    def deliver(ev: Any) -> None:
        groups[ev[0]].last_seq = ev[1]
        delivered.append((ev[0], ev[1], ev[6]))

    gate = OrderGate(asyncio.get_running_loop(), groups, run, deliver, Counts())  # type: ignore[arg-type]
    gate.start_at(10)
    return gate, delivered


def _ev(channel: str, seq: int, row: int) -> tuple[Any, ...]:
    return (channel, seq, "test", "{}", None, None, row)


async def test_an_event_waits_for_a_lower_row_the_hub_lacks() -> None:
    groups = {"a": Group(multi=1), "b": Group(multi=1), "solo": Group(multi=0)}
    gate, delivered = _gate(groups, {11: ("b", 1), 12: ("other", 7), 13: ("a", 1), 14: ("b", 2)})
    assert gate.holds(groups["a"], _ev("a", 1, 13))  # b's row 11 may be missing
    assert gate.holds(groups["b"], _ev("b", 2, 14))  # behind it, in arrival order
    assert not gate.holds(groups["solo"], _ev("solo", 1, 15))  # single-channel streams never wait
    for _ in range(10):
        await asyncio.sleep(0)
    # b's row 11 was read from the log; then everything in row order.
    assert delivered == [("b", 1, 11), ("a", 1, 13), ("b", 2, 14)]
    assert gate.verified == 15  # every row that had arrived when it read


async def test_the_next_row_goes_out_at_once() -> None:
    groups = {"a": Group(multi=1), "b": Group(multi=1)}
    gate, _delivered = _gate(groups, {})
    assert not gate.holds(groups["a"], _ev("a", 1, 11))
    assert not gate.holds(groups["b"], _ev("b", 1, 12))
    assert gate.verified == 12
    assert gate.held is None
