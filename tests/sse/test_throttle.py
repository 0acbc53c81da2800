"""Throttled channels: a burst reaches each stream conflated, the latest always last.

Over a real socket: a publisher process sends 1,000 events as fast as it can to channels
of tests/sse_app registered with ``max_rate=5`` (``throttled.*``) and with
``conflate_by="symbol"`` (``prices.*``). The bounds are counts against the time the burst
took on this machine (a throttle can send at most ``rate`` batches per second of it, plus
the first), never a timing of its own.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import httpx
import pytest

from sse import runtime
from sse.channels import registry
from sse.channels.patterns import ChannelRegistry
from sse.channels.registry import ChannelPattern, register_channel
from sse.channels.throttle import Throttle, ThrottleMode, conflation_key, effective_rate
from sse.hub.stats import Counts
from tests.servers import manage
from tests.sse.conftest import Site
from tests.sse.sse_client import Received, StreamReader, plain_id

STREAM = "/sse/stream/"
BURST = 1000
SYMBOLS = ("AAA", "BBB", "CCC")


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    # A channel name segment per test: tests never see each other's events.
    return re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name.removeprefix("test_"))[:60]


def publish_burst(site: Site, channel: str, count: int = BURST) -> float:
    """``count`` events on ``channel`` from another process, as fast as it goes: ``{n, symbol}``.

    Returns the wall-clock time the first was published.
    """
    code = (
        "import sse, time\n"
        "print(time.time(), flush=True)\n"
        f"for n in range({count}):\n"
        f"    sse.publish({channel!r}, {{'n': n, 'symbol': {SYMBOLS!r}[n % 3]}}, event='tick')\n"
    )
    out = manage(site.env, "shell", "-v", "0", "-c", code).stdout
    return float(out.split()[0])


def read_until(reader: StreamReader, done: Callable[[Received], bool], timeout: float = 60) -> list[Received]:
    """Events until one for which ``done`` holds (that one included)."""
    got: list[Received] = []
    while not got or not done(got[-1]):
        got.extend(reader.events(1, timeout=timeout))
    return got


def most_allowed(rate: float, since: float) -> int:
    """What a throttle of ``rate`` may send from ``since`` until now: a batch per window, plus the first."""
    return int(rate * (time.time() - since)) + 2


def first_event_seen(site: Site, client: httpx.Client, channel: str) -> Received:
    """One event published on ``channel`` and received by a stream of ``client``, then closed."""
    with client.stream("GET", STREAM, params={"channel": channel}) as response:
        reader = StreamReader(response)
        reader.read_bytes(7)  # subscribed: the opening is out
        publish_burst(site, channel, 1)
        [seen] = reader.events(1)
    return seen


def numbers(events: list[Received]) -> list[int]:
    return [event.json()["n"] for event in events]


# -- over a real socket ------------------------------------------------------------------


def test_a_burst_reaches_each_stream_conflated_and_ends_on_its_last_event(
    name: str, site: Site, alice: httpx.Client, bob: httpx.Client
) -> None:
    channel = f"throttled.{name}"
    with (
        alice.stream("GET", STREAM, params={"channel": channel}) as fast,
        bob.stream("GET", STREAM, params={"channel": channel, "max_rate": "1"}) as slow,
    ):
        fast_reader, slow_reader = StreamReader(fast), StreamReader(slow)
        fast_reader.read_bytes(7)  # subscribed: the opening is out
        slow_reader.read_bytes(7)
        started = publish_burst(site, channel)
        last = BURST - 1
        fast_events = read_until(fast_reader, lambda e: e.json()["n"] == last)
        fast_bound = most_allowed(5, started)
        slow_events = read_until(slow_reader, lambda e: e.json()["n"] == last)
        slow_bound = most_allowed(1, started)
    print(
        f"max_rate=5: {len(fast_events)} events (at most {fast_bound}); "
        f"?max_rate=1: {len(slow_events)} (at most {slow_bound})"
    )
    for events, bound in ((fast_events, fast_bound), (slow_events, slow_bound)):
        got = numbers(events)
        assert got == sorted(set(got)), "events out of order or twice"
        assert got[-1] == last
        assert len(events) <= bound, f"{len(events)} events from a channel of max_rate=5 in this time"
    # The stream that asked for 1/s got no more than the channel's 5/s gave the other.
    assert len(slow_events) <= len(fast_events)
    stats = site.client("staff").get("/api/sse/stats/").json()
    assert stats["conflated"] >= BURST - len(fast_events) - len(slow_events)


def test_conflation_per_key_keeps_the_latest_value_of_every_key(
    name: str, site: Site, alice: httpx.Client
) -> None:
    channel = f"prices.{name}"
    with alice.stream("GET", STREAM, params={"channel": channel}) as response:
        reader = StreamReader(response)
        reader.read_bytes(7)
        started = publish_burst(site, channel)
        # The last event of each symbol: 997 (AAA), 998 (BBB), 999 (CCC).
        latest = {SYMBOLS[n % 3]: n for n in range(BURST - 3, BURST)}
        seen: dict[str, int] = {}

        def all_latest(event: Received) -> bool:
            seen[event.json()["symbol"]] = event.json()["n"]
            return seen == latest

        events = read_until(reader, all_latest)
        bound = most_allowed(5, started) * len(SYMBOLS)
    got = numbers(events)
    assert got == sorted(set(got))
    for event in events:
        assert event.json()["symbol"] == SYMBOLS[event.json()["n"] % 3]
    assert len(events) <= bound, f"{len(events)} events: more than a batch of one per symbol per window"


def test_a_resumed_stream_gets_the_latest_of_what_it_missed(
    name: str, site: Site, alice: httpx.Client
) -> None:
    channel = f"throttled.{name}"
    seen = first_event_seen(site, alice, channel)
    publish_burst(site, channel, 50)
    with alice.stream(
        "GET", STREAM, params={"channel": channel}, headers={"Last-Event-ID": seen.id}
    ) as response:
        reader = StreamReader(response)
        [replayed] = reader.events(1)
        publish_burst(site, channel, 1)
        [live] = reader.events(1)
    # 50 missed: the latest of them only, then live events go on from there.
    assert (replayed.event, replayed.json()["n"]) == ("tick", 49)
    tag = seen.id.rsplit(":", 1)[0]
    assert (plain_id(seen.id), plain_id(replayed.id), plain_id(live.id)) == (
        f"{tag}:1",
        f"{tag}:51",
        f"{tag}:52",
    )


def test_a_resumed_stream_gets_the_latest_value_of_every_key(
    name: str, site: Site, alice: httpx.Client
) -> None:
    channel = f"prices.{name}"
    seen = first_event_seen(site, alice, channel)
    publish_burst(site, channel, 30)
    with alice.stream(
        "GET", STREAM, params={"channel": channel}, headers={"Last-Event-ID": seen.id}
    ) as response:
        replayed = StreamReader(response).events(3)
    # 27 (AAA), 28 (BBB), 29 (CCC): the latest per symbol, in the order they were published.
    assert [(e.json()["symbol"], e.json()["n"]) for e in replayed] == [("AAA", 27), ("BBB", 28), ("CCC", 29)]
    assert plain_id(replayed[-1].id).endswith(":31")


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf", ""])
def test_a_bad_max_rate_is_a_400(value: str, alice: httpx.Client) -> None:
    answer = alice.get(STREAM, params={"channel": "throttled.x", "max_rate": value})
    assert answer.status_code == 400
    assert "max_rate must be a" in answer.text


def test_two_max_rates_are_a_400(alice: httpx.Client) -> None:
    answer = alice.get(STREAM, params=[("channel", "throttled.x"), ("max_rate", "1"), ("max_rate", "2")])
    assert (answer.status_code, answer.text) == (400, "give one max_rate, not several\n")


# -- the throttle itself -------------------------------------------------------------


async def wait_for(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the throttle's window never ended")


def throttle(mode: ThrottleMode, sent: list[Any], counts: Counts) -> Throttle:
    return Throttle(asyncio.get_running_loop(), 20, mode, sent.append, counts)


async def test_both_sends_the_first_at_once_and_the_latest_when_the_window_ends() -> None:
    sent: list[int] = []
    counts = Counts()
    t = throttle("both", sent, counts)
    t.push(None, 1)
    t.push(None, 2)
    t.push(None, 3)
    assert sent == [1]
    await wait_for(lambda: len(sent) == 2)
    assert sent == [1, 3] and counts.conflated == 1
    await wait_for(lambda: t.timer is None)  # a quiet window: nothing more, the timer stops
    t.push(None, 4)
    assert sent == [1, 3, 4]
    t.close()


async def test_trailing_sends_a_lone_event_when_its_window_ends() -> None:
    sent: list[int] = []
    t = throttle("trailing", sent, Counts())
    t.push(None, 1)
    assert sent == []
    await wait_for(lambda: sent == [1])
    t.close()


async def test_leading_drops_the_rest_of_the_window() -> None:
    sent: list[int] = []
    counts = Counts()
    t = throttle("leading", sent, counts)
    for n in (1, 2, 3):
        t.push(None, n)
    await wait_for(lambda: t.timer is None)
    assert sent == [1] and counts.conflated == 2


async def test_a_batch_holds_the_latest_per_key_in_the_order_they_came() -> None:
    sent: list[tuple[str, int]] = []
    counts = Counts()
    t = throttle("both", sent, counts)
    t.push("a", ("a", 0))
    for item in (("a", 1), ("b", 2), ("a", 3), ("c", 4)):
        t.push(item[0], item)
    await wait_for(lambda: len(sent) == 4)
    assert sent == [("a", 0), ("b", 2), ("a", 3), ("c", 4)] and counts.conflated == 1


async def test_close_stops_the_timer_and_forgets_what_waits() -> None:
    sent: list[int] = []
    t = throttle("both", sent, Counts())
    t.push(None, 1)
    t.push(None, 2)
    t.close()
    await asyncio.sleep(0.2)
    assert sent == [1] and t.timer is None


# -- declaring a throttled channel -----------------------------------------------------


@pytest.fixture
def declared(monkeypatch: pytest.MonkeyPatch) -> None:
    """The channels a test declares go into a fresh registry, dropped after it."""
    monkeypatch.setitem(runtime.get().parts, ChannelRegistry, ChannelRegistry())


def pattern(name: str) -> ChannelPattern:
    found = registry.find_pattern(name)
    assert found is not None
    return found[0]


@pytest.mark.usefixtures("declared")
def test_rates_are_bounded_by_the_channel() -> None:
    register_channel("t", lambda user: True, max_rate=5, min_rate=0.5)
    p = pattern("t")
    assert effective_rate(p, None) is None
    assert effective_rate(p, 10) is None  # no more than the channel's: its own throttle
    assert effective_rate(p, 5) is None
    assert effective_rate(p, 1) == 1
    assert effective_rate(p, 0.01) == 0.5  # raised to min_rate
    assert effective_rate(p, 1.234) == 1.23  # rounded down: nearby rates share a throttle


@pytest.mark.usefixtures("declared")
@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"max_rate": 0}, ValueError, "max_rate must be a positive number"),
        ({"max_rate": "fast"}, ValueError, "max_rate must be a number"),
        ({"max_rate": True}, ValueError, "max_rate must be a number"),
        (
            {"max_rate": 5, "throttle": "sometimes"},
            ValueError,
            "throttle must be one of both, leading, trailing",
        ),
        ({"max_rate": 5, "min_rate": 6}, ValueError, "min_rate 6 is above max_rate 5"),
        ({"conflate_by": "symbol"}, TypeError, "need a max_rate"),
        ({"min_rate": 1}, TypeError, "need a max_rate"),
        ({"throttle": "trailing"}, TypeError, "need a max_rate"),
        ({"max_rate": 5, "conflate_by": 3}, TypeError, "conflate_by must be a JSON field name or a callable"),
    ],
)
def test_a_bad_declaration_says_what_is_wrong(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        register_channel("t", lambda user: True, **options)


def test_conflate_by_a_field_keys_by_its_value() -> None:
    key = conflation_key("symbol")
    assert key is not None
    keys: list[Hashable] = [
        key("tick", json.dumps({"symbol": "AAA", "p": 1})),
        key("tick", json.dumps({"symbol": "AAA", "p": 2})),
        key("tick", json.dumps({"symbol": "BBB"})),
        key("tick", json.dumps({"symbol": ["x"]})),
        key("tick", "not json"),
        key("tick", json.dumps([1, 2])),
    ]
    assert keys[0] == keys[1] != keys[2]
    assert keys[3] == '["x"]'
    assert keys[4] is None and keys[5] is None


@pytest.mark.usefixtures("declared")
def test_the_readme_declaration_runs() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    found = re.search(r"```python\n(# prices/channels\.py\n.*?)```", readme, re.S)
    assert found, "the README's throttled channel example is gone"
    exec(compile(found.group(1), "README.md", "exec"), {})
    p = pattern("prices.eu")
    assert (p.pattern, p.max_rate, p.throttle, p.min_rate) == ("prices.{market}", 2, "both", 0.2)
    assert p.conflation_key is not None and p.conflation_key("tick", '{"symbol": "ACME"}') == "ACME"
