"""``python -m sse.daphne``: a client that reads nothing makes ``send()`` wait, then is cut off.

Plain Daphne's ``send()`` returns at once and Twisted buffers whatever the client
does not read. Under ``python -m sse.daphne`` it waits while the connection's send
buffer is full, so the bytes handed to the server stay near what the sockets hold,
and after ``SSE_SEND_TIMEOUT_SECONDS`` of reading nothing the connection is aborted
(its access-log line says ``cut-off``); the client resumes from the log.
"""

from __future__ import annotations

import re
import socket
import time
import uuid
from pathlib import Path

from tests.sse.conftest import running_site

EVENTS = 40
PAD = 200_000  # 8 MB in all: more than the kernel's socket buffers and Twisted's hold


def test_a_client_that_reads_nothing_is_cut_off(tmp_path: Path) -> None:
    # A queue bound far above what is published: what ends the stream is the send timeout.
    with running_site(
        tmp_path, SSE_SEND_TIMEOUT_SECONDS="2", SSE_QUEUE_MAX_BYTES=str(256 * 1024 * 1024)
    ) as site:
        channel = f"scratch.slow-{uuid.uuid4().hex[:10]}"
        staff = site.client("staff")
        cookie = site.client("alice").cookies["sessionid"]
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.settimeout(30)
        client.connect(("127.0.0.1", site.server.port))
        client.sendall(
            f"GET /sse/stream/?channel={channel} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Cookie: sessionid={cookie}\r\n\r\n".encode()
        )
        head = b""
        while b"retry: " not in head:
            head += client.recv(4096)
        assert head.startswith(b"HTTP/1.1 200"), head
        # From here the client reads nothing.
        for n in range(EVENTS):
            answer = staff.post(
                "/api/sse/publish/", json={"channel": channel, "data": {"n": n, "pad": "x" * PAD}}
            )
            assert answer.status_code == 201, answer.text
        deadline = time.monotonic() + 60
        while not (
            line := re.search(
                rf'"GET /sse/stream/\?channel={channel}" 200 (\d+) \S+ (\S+)', site.server.log()
            )
        ):
            assert time.monotonic() < deadline, f"no line for the stream:\n{site.server.log()[-3000:]}"
            time.sleep(0.2)
        sent, ended = int(line.group(1)), line.group(2)
        assert ended == "cut-off", line.group(0)
        # What the server took from the application is what the sockets held, not all 8 MB.
        assert sent < EVENTS * PAD / 2, line.group(0)
        # The connection was aborted: the client reads what was in flight, then a reset or the end.
        received = len(head)
        try:
            while chunk := client.recv(1 << 20):
                received += len(chunk)
        except ConnectionResetError:
            pass
        finally:
            client.close()
        assert received <= len(head) + sent + 64 * 1024, (received, sent)
