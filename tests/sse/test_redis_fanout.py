"""Two Daphne processes on one Redis channel layer, a publisher in a third process."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from channels_redis.core import RedisChannelLayer

from tests.servers import PYTHON, ROOT, DaphneServer, RedisServer
from tests.sse.conftest import Site, login, prepare, sse_env
from tests.sse.sse_client import Received, StreamReader

pytestmark = pytest.mark.redis

CHANNEL = "scratch.fanout"
EVENTS = 6
CLIENTS_PER_SERVER = 3


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory, redis: RedisServer) -> Iterator[list[Site]]:
    tmp = tmp_path_factory.mktemp("sse-redis")
    # The log poll is made too slow to matter: events can only come through Redis.
    env = sse_env(tmp / "db.sqlite3", REDIS_URL=redis.url, SSE_LOG_POLL_SECONDS="3600")
    users = prepare(env)
    servers = [
        DaphneServer(env, asgi="tests.sse_app.asgi:application", log_path=tmp / f"daphne-{i}.log")
        for i in range(2)
    ]
    sites = []
    try:
        for server in servers:
            sites.append(Site(server.start(), users))
        yield sites
    finally:
        for site in sites:
            for client in site.clients:
                client.close()
        for server in servers:
            server.stop()


def publish_from_the_command_line(env: dict[str, str], n: int, channel: str = CHANNEL) -> str:
    done = subprocess.run(
        [PYTHON, "-m", "django", "sse_publish", channel, json.dumps({"n": n}), "--event", "tick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_every_client_on_both_servers_gets_every_event_in_order(two_servers: list[Site]) -> None:
    received: dict[str, list[Received]] = {}
    failures: list[BaseException] = []
    ready = threading.Barrier(len(two_servers) * CLIENTS_PER_SERVER + 1, timeout=60)

    def listen(site: Site, name: str, username: str) -> None:
        client = httpx.Client(base_url=site.url, timeout=60)
        try:
            login(client, username)
            with client.stream("GET", "/sse/stream/", params={"channel": CHANNEL}) as response:
                assert response.status_code == 200
                reader = StreamReader(response)
                reader.read_bytes(7)
                ready.wait()
                received[name] = reader.events(EVENTS, timeout=120)
        except BaseException as exc:
            failures.append(exc)
            ready.abort()
        finally:
            client.close()

    threads = [
        threading.Thread(target=listen, args=(site, f"server{s}-client{c}", ("alice", "bob", "staff")[c]))
        for s, site in enumerate(two_servers)
        for c in range(CLIENTS_PER_SERVER)
    ]
    for thread in threads:
        thread.start()
    ready.wait()  # every client has its stream open before the first event

    ids = [publish_from_the_command_line(two_servers[0].env, n) for n in range(1, EVENTS + 1)]
    for thread in threads:
        thread.join(180)
    assert not failures, failures
    assert sorted(received) == sorted(f"server{s}-client{c}" for s in range(2) for c in range(3))
    for name, events in received.items():
        assert [(e.event, e.json()["n"]) for e in events] == [("tick", n) for n in range(1, EVENTS + 1)], name
        assert [e.id for e in events] == ids, name


def test_both_hubs_joined_the_redis_group(two_servers: list[Site]) -> None:
    for site in two_servers:
        staff = site.client("staff")
        with site.client("alice").stream("GET", "/sse/stream/", params={"channel": CHANNEL}) as response:
            reader = StreamReader(response)  # kept: dropping it would close the stream
            reader.read_bytes(7)
            figures = staff.get("/api/sse/stats/").json()
        assert figures["running"] and figures["streams"] == 1, figures
        assert figures["layer_members"] >= 1, figures
        assert figures["layer_errors"] == 0, figures


def test_regression_idle_redis_receive_counted_as_layer_errors(two_servers: list[Site]) -> None:
    # With redis-py's 5 s default read timeout, each idle 5 s blocking pop of
    # channels_redis timed out client-side: a layer error, a backoff, a rejoin.
    # tests/sse_app configures socket_timeout above it; this holds a stream idle
    # past a whole blocking pop and expects a clean record and prompt delivery.
    site, other = two_servers[1], two_servers[0]
    staff, publisher = site.client("staff"), other.client("staff")
    channel = "scratch.idle-redis"
    with site.client("alice").stream("GET", "/sse/stream/", params={"channel": channel}) as r:
        reader = StreamReader(r)
        reader.read_bytes(7)
        # An event from the other process, which can only come through Redis: when it is
        # here, this process's receive loop has just started its next blocking pop.
        assert publisher.post("/burst/", data={"channel": channel, "n": "1"}).status_code == 200
        [event] = reader.events(1)
        assert event.json() == {"n": 0}
        before = staff.get("/api/sse/stats/").json()["layer_errors"]
        # Idle past that pop's whole timeout (the bug failed every idle pop at its end), with
        # room for a busy machine.
        deadline = time.monotonic() + RedisChannelLayer.brpop_timeout + 3
        while time.monotonic() < deadline:
            figures = staff.get("/api/sse/stats/").json()
            assert figures["layer_errors"] == before, figures
            time.sleep(0.5)
        assert publisher.post("/burst/", data={"channel": channel, "n": "1"}).status_code == 200
        [event] = reader.events(1)
    assert event.json() == {"n": 0}
    assert staff.get("/api/sse/stats/").json()["layer_errors"] == before
