"""A Daphne server for the chat tests (its own SQLite file), signed-in clients, and a
threaded SSE reader (sse.testing's parser) that waits for conditions with deadlines."""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from sse.testing import EventParser
from tests.project.conftest import login
from tests.servers import DaphneServer, manage, prepare_database, project_env

SETTINGS = "tests.chat.settings"


def chat_env(database_url: str, **extra: str) -> dict[str, str]:
    return project_env(database_url, settings=SETTINGS, SSE_HEARTBEAT_SECONDS="1", **extra)


@pytest.fixture(scope="session")
def chat_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    tmp = tmp_path_factory.mktemp("chat-site")
    env = chat_env(f"sqlite:///{tmp / 'db.sqlite3'}")
    prepare_database(env)
    with DaphneServer(env, log_path=tmp / "daphne.log") as server:
        yield server


@pytest.fixture
def alice(chat_site: DaphneServer) -> Iterator[httpx.Client]:
    client = login(chat_site.url, "alice")
    yield client
    client.close()


@pytest.fixture
def bob(chat_site: DaphneServer) -> Iterator[httpx.Client]:
    client = login(chat_site.url, "bob")
    yield client
    client.close()


def create_user(server: DaphneServer, username: str) -> None:
    manage(
        server.env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user({username!r}, password='demo')",
    )


class EventReader:
    """Reads one SSE stream on a thread; tests wait for events with a deadline."""

    def __init__(self, client: httpx.Client, url: str, params: Any = None) -> None:
        self.client = client
        self.events: list[dict[str, Any]] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._opened = threading.Event()
        self.status: int | None = None
        self._stop = False
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._read, args=(url, params), daemon=True)
        self._thread.start()
        if not self._opened.wait(30):
            raise TimeoutError(f"stream {url} did not answer in 30 s")
        assert self.status == 200, f"stream {url} answered {self.status}"

    def _read(self, url: str, params: Any) -> None:
        timeout = httpx.Timeout(10.0, read=None)
        try:
            with self.client.stream("GET", url, params=params, timeout=timeout) as response:
                self._response = response
                self.status = response.status_code
                self._opened.set()
                parser = EventParser()
                for chunk in response.iter_raw():
                    if self._stop:
                        return
                    for event in parser.feed(chunk):
                        self._queue.put(
                            {"event": event.event, "id": event.id, "data": event.data, "json": event.json()}
                        )
        except Exception:  # closed under our feet by close(), or the server went away
            pass
        finally:
            self._opened.set()
            self._queue.put(None)

    def wait_for(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 30.0,
        what: str = "an event",
        since: int = 0,
    ) -> dict[str, Any]:
        """The first event from ``self.events[since:]`` on (or still to come) that satisfies ``predicate``."""
        for event in self.events[since:]:
            if predicate(event):
                return event
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                event = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if event is None:
                raise AssertionError(f"stream ended while waiting for {what}; got {self.events}")
            self.events.append(event)
            if predicate(event):
                return event
        raise AssertionError(f"no {what} within {timeout} s; got {self.events}")

    def wait_presence(self, users: set[str], timeout: float = 30.0) -> dict[str, Any]:
        """The latest presence event, once it lists exactly ``users``."""

        def latest_matches(event: dict[str, Any]) -> bool:
            return event.get("event") == "presence" and set(event["json"]["users"]) == users

        # Of the events already read only the newest presence counts: it is the current list.
        seen = [e for e in self.events if e.get("event") == "presence"]
        if seen and latest_matches(seen[-1]):
            return seen[-1]
        return self.wait_for(latest_matches, timeout, f"presence {sorted(users)}", since=len(self.events))

    def read_for(self, seconds: float) -> None:
        """Take in what arrives within ``seconds`` (into ``self.events``)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self._queue.get(timeout=left)
            except queue.Empty:
                return
            if event is None:
                raise AssertionError(f"stream ended; got {self.events}")
            self.events.append(event)

    def close(self) -> None:
        self._stop = True
        if self._response is not None:
            self._response.close()
        self._thread.join(10)


@pytest.fixture
def open_stream() -> Iterator[Callable[..., EventReader]]:
    readers: list[EventReader] = []

    def opener(client: httpx.Client, url: str, params: Any = None) -> EventReader:
        reader = EventReader(client, url, params)
        readers.append(reader)
        return reader

    yield opener
    for reader in readers:
        reader.close()


def create_room(server: DaphneServer, slug: str, name: str) -> None:
    manage(
        server.env,
        "shell",
        "-c",
        "from chat.models import Room; "
        f"Room.objects.get_or_create(slug={slug!r}, defaults={{'name': {name!r}}})",
    )


@pytest.fixture(scope="session")
def sandbox(chat_site: DaphneServer) -> str:
    """An open room for tests that post a lot, so the lobby stays readable in the screenshot."""
    create_room(chat_site, "sandbox", "Sandbox")
    return "sandbox"


def open_and_close(client: httpx.Client, url: str) -> None:
    """Open a stream, read its first block (sent once the stream counts as open), go away."""
    with client.stream("GET", url, timeout=httpx.Timeout(30.0)) as response:
        assert response.status_code == 200, f"{url} answered {response.status_code}"
        for chunk in response.iter_raw():
            if chunk:
                break


def log_of(server: DaphneServer, channel: str) -> dict[str, int]:
    """What the server's event log (its SQLite file) holds of ``channel``."""
    path = server.env["DATABASE_URL"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        rows, presence = db.execute(
            "SELECT COUNT(*), COUNT(CASE WHEN event = 'presence' THEN 1 END)"
            " FROM sse_storedevent WHERE channel = ?",
            [channel],
        ).fetchone()
        head = db.execute("SELECT last_seq FROM sse_channelhead WHERE name = ?", [channel]).fetchone()
    return {"rows": rows, "presence_rows": presence, "head": head[0] if head else 0}


def presence_seq(event: dict[str, Any]) -> int:
    """The presence channel's seq in the id of an event of ``/chat/<slug>/stream/``: the stream's
    channels are sorted, ``chat.presence.<slug>`` before ``chat.room.<slug>``."""
    return int(event["id"].rsplit(":", 1)[1].split(".")[0].partition("_")[0])


def seed_history(server: DaphneServer, slug: str, days_ago: list[int]) -> list[int]:
    """A new open room ``slug`` holding one message per entry of ``days_ago`` (oldest first,
    written by a user who posts nothing else, so nobody's rate limit counts them): message n
    reads ``history <slug> <n>`` and was sent ``days_ago[n]`` days before now, a second apart.
    Returns the message ids in order."""
    script = f"""
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from chat.models import Message, Room
author, _ = get_user_model().objects.get_or_create(username="historian")
room = Room.objects.create(slug={slug!r}, name={slug!r})
now = timezone.now()
days = {days_ago!r}
rows = [
    Message(room=room, author=author, body=f"history {slug} {{n}}",
            created=now - timedelta(days=d, seconds=len(days) - n))
    for n, d in enumerate(days)
]
Message.objects.bulk_create(rows)
print("ids:", *room.messages.order_by("created", "id").values_list("pk", flat=True))
"""
    answer = manage(server.env, "shell", "-c", script)
    # The shell may print other lines first (what it imported).
    line = next(line for line in answer.stdout.splitlines() if line.startswith("ids:"))
    return [int(pk) for pk in line.split()[1:]]


def create_users(server: DaphneServer, *usernames: str) -> None:
    """Users with the demo password, made in one process (each ``manage`` start costs seconds)."""
    manage(
        server.env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"[get_user_model().objects.create_user(u, password='demo') for u in {list(usernames)!r}]",
    )
