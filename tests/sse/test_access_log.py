"""The access log of ``python -m sse.daphne``, read from a real server's output.

Every stream gets a line when it ends, with its duration, the bytes sent and why it
ended; a token never shows, however its parameter name is spelled.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from sse.server.access_log import AccessLog
from tests.sse.conftest import Site, running_site, site_fixture
from tests.sse.sse_client import StreamReader

STREAM = "/sse/stream/"

lifetime_site = site_fixture(
    "lifetime_site", "A server whose streams end after about 2 s.", SSE_MAX_LIFETIME_SECONDS="2"
)


def wait_for_line(site: Site, pattern: str, timeout: float = 60) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while True:
        found = re.search(pattern, site.server.log())
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no line matching {pattern!r} in the log:\n{site.server.log()[-3000:]}")
        time.sleep(0.2)


def fresh_channel() -> str:
    return f"scratch.log-{uuid.uuid4().hex[:10]}"


def token_for(client: httpx.Client, channel: str) -> str:
    answer = client.post("/api/sse/tokens/", json={"channels": [channel]})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


@pytest.mark.parametrize("name", ["%74oken", "tok%65n", "%54%4F%4B%45%4E", "access%5Ftoken", "%2574oken"])
def test_a_percent_encoded_token_name_is_redacted_and_a_stream_the_client_ends_is_logged(
    site: Site, alice: httpx.Client, anonymous: httpx.Client, name: str
) -> None:
    channel = fresh_channel()
    token = token_for(alice, channel)
    url = f"{site.url}{STREAM}?channel={channel}&{name}={token}"
    with anonymous.stream("GET", url) as stream:
        if name in {"%74oken", "tok%65n"}:  # the server reads these as token=: the stream opens
            assert stream.status_code == 200, stream.read()
            StreamReader(stream).read_bytes(7)
    # The client closed the stream: its line, with the bytes, the duration and why it ended.
    line = wait_for_line(
        site,
        rf'"GET /sse/stream/\?channel={re.escape(channel)}&{re.escape(name)}=\[redacted\]" (\d+) (\d+) '
        r"(\d+\.\d{3})s (\S+)",
    )
    status, size, _seconds, ended = line.groups()
    if name in {"%74oken", "tok%65n"}:
        assert (status, ended) == ("200", "client-gone"), line.group(0)
        assert int(size) >= 7, line.group(0)
    log = site.server.log()
    assert token not in log
    assert token.split(":")[0] not in log


def test_a_stream_the_server_ends_has_its_line(lifetime_site: Site) -> None:
    channel = fresh_channel()
    client = lifetime_site.client("alice")
    with client.stream("GET", STREAM, params={"channel": channel}, timeout=60) as stream:
        body = stream.read()  # returns only when the server ends the stream (its lifetime)
    line = wait_for_line(
        lifetime_site, rf'"GET /sse/stream/\?channel={re.escape(channel)}" 200 (\d+) (\d+\.\d{{3}})s (\S+)'
    )
    size, seconds, ended = line.groups()
    assert ended == "complete", line.group(0)
    assert int(size) == len(body)
    assert float(seconds) >= 1.5


def test_a_stream_ended_by_shutdown_has_its_line(tmp_path: Path) -> None:
    channel = fresh_channel()
    with running_site(tmp_path) as site:
        client = site.client("alice")
        with client.stream("GET", STREAM, params={"channel": channel}, timeout=60) as stream:
            assert stream.status_code == 200
            reader = StreamReader(stream)
            reader.read_bytes(7)
            stopper = threading.Thread(target=site.server.stop)
            stopper.start()
            for _ in reader.chunks:  # the server ends the body cleanly as it stops
                pass
            stopper.join()
        wait_for_line(
            site, rf'"GET /sse/stream/\?channel={re.escape(channel)}" 200 \d+ \d+\.\d{{3}}s server-shutdown'
        )


def test_a_request_of_a_page_still_gets_one_line(site: Site, anonymous: httpx.Client) -> None:
    marker = uuid.uuid4().hex
    assert anonymous.get(f"/api/sse/stats/?m={marker}").status_code == 403
    wait_for_line(site, rf'"GET /api/sse/stats/\?m={marker}" 403 \d+ \d+\.\d{{3}}s complete')
    time.sleep(1)
    assert site.server.log().count(marker) == 1  # Daphne's own line is not written as well


def test_the_line_format() -> None:
    import io

    out = io.StringIO()
    log = AccessLog(out)
    details = {"path": "/s/?a=1", "status": 200, "method": "GET", "client": "1.2.3.4:5"}
    log("http", "complete", {**details, "size": 12, "time_taken": 1.23456, "ended": "client-gone"})
    log("http", "complete", {**details, "status": None, "size": 0, "time_taken": 0.0, "ended": "client-gone"})
    first, second = out.getvalue().splitlines()
    assert re.fullmatch(r'1\.2\.3\.4:5 - - \[[^]]+\] "GET /s/\?a=1" 200 12 1\.235s client-gone', first)
    assert second.endswith('"GET /s/?a=1" - 0 0.000s client-gone')
