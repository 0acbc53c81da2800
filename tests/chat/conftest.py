"""A Daphne server for the chat tests (its own SQLite file), signed-in clients, and a
threaded SSE reader (sse.testing's parser) that waits for conditions with deadlines."""

from __future__ import annotations

import queue
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
