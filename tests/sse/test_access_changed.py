"""``sse.access_changed()`` with only the sse app: a change no signal reports (a queryset
``.update()`` in another process), announced by that process, ends the streams that lost
access on a server within 5 s over Redis (issue 26, item 5). The server's periodic rule
re-check is set to 10 minutes: only the notice can end them in time."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.servers import RedisServer, manage
from tests.sse.conftest import Site, running_site

pytestmark = pytest.mark.redis

BOUND = 5.0  # the bound across processes with Redis
WATCH = 45.0  # how long a test watches for the end, for its report


@pytest.fixture(scope="module")
def redis_site(tmp_path_factory: pytest.TempPathFactory, redis: RedisServer) -> Iterator[Site]:
    url = redis.url.rsplit("/", 1)[0] + "/13"  # a database of our own on the shared server
    with running_site(
        tmp_path_factory.mktemp("access-changed"), REDIS_URL=url, SSE_ACCESS_RECHECK_SECONDS="600"
    ) as site:
        yield site


class Stream:
    def __init__(self, site: Site, channel: str, client: httpx.Client) -> None:
        self.client = httpx.Client(
            base_url=site.url, cookies=client.cookies, timeout=httpx.Timeout(10, read=120)
        )
        self.status: int | None = None
        self.socket: socket.socket | None = None
        self.opened = threading.Event()
        self.ended = threading.Event()
        self.ended_at = 0.0
        self.thread = threading.Thread(target=self._run, args=(channel,), daemon=True)
        self.thread.start()
        assert self.opened.wait(30)
        assert self.status == 200, self.status

    def _run(self, channel: str) -> None:
        try:
            with self.client.stream("GET", "/sse/stream/", params={"channel": channel}) as response:
                self.status = response.status_code
                network = response.extensions.get("network_stream")
                self.socket = network.get_extra_info("socket") if network is not None else None
                self.opened.set()
                for _ in response.iter_raw():
                    pass
        except httpx.HTTPError:
            pass
        finally:
            self.ended_at = time.monotonic()
            self.opened.set()
            self.ended.set()

    def close(self) -> None:
        # Closing the client does not wake a read blocked on a quiet stream; shutting the socket does.
        if self.socket is not None:
            with contextlib.suppress(OSError):
                self.socket.shutdown(socket.SHUT_RDWR)
        self.client.close()
        self.thread.join(10)


def shell(site: Site, code: str) -> str:
    return manage(site.env, "shell", "-v", "0", "-c", code).stdout


@pytest.mark.parametrize("notice", ["u.pk", "channels=['sta*']"])
def test_access_changed_from_another_process_ends_the_stream(redis_site: Site, notice: str) -> None:
    staff = redis_site.client("staff")
    stream = Stream(redis_site, "staff", staff)
    try:
        out = shell(
            redis_site,
            "import time\nimport sse\nfrom django.contrib.auth import get_user_model\n"
            "User = get_user_model()\n"
            "User.objects.filter(username='staff').update(is_staff=False)  # no signal\n"
            "changed = time.monotonic()\n"
            "u = User.objects.get(username='staff')\n"
            f"sse.access_changed({notice})\n"
            "print(changed)",
        )
        changed = float(out.strip().splitlines()[-1])
        assert stream.ended.wait(WATCH), f"the stream still open {WATCH}s after the change"
        took = stream.ended_at - changed
        print(f"access_changed({notice}) from a shell: ended {took:.2f}s after the change")
        assert took <= BOUND
    finally:
        stream.close()
        shell(
            redis_site,
            "from django.contrib.auth import get_user_model\n"
            "get_user_model().objects.filter(username='staff').update(is_staff=True)",
        )


def test_a_notice_for_someone_else_leaves_the_stream_alone(redis_site: Site) -> None:
    staff = redis_site.client("staff")
    stream = Stream(redis_site, "staff", staff)
    try:
        shell(
            redis_site,
            "import sse\nfrom django.contrib.auth import get_user_model\n"
            "sse.access_changed(get_user_model().objects.get(username='alice'), channels=['public'])",
        )
        assert not stream.ended.wait(3.0), "a stream no notice named ended"
    finally:
        stream.close()
