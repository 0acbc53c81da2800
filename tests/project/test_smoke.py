from __future__ import annotations

import json
import subprocess
import threading

import httpx

from tests.project.conftest import login, read_events
from tests.servers import PYTHON, ROOT, DaphneServer


def test_publish_command_reaches_a_signed_in_stream(site: DaphneServer, alice: httpx.Client) -> None:
    received: list[dict[str, str]] = []
    opened = threading.Event()

    def listen() -> None:
        with alice.stream("GET", "/sse/stream/", params={"channel": "broadcast"}, timeout=15) as r:
            assert r.status_code == 200
            opened.set()
            received.extend(read_events(r, 1, timeout=10))

    t = threading.Thread(target=listen)
    t.start()
    assert opened.wait(10)
    out = subprocess.run(
        [PYTHON, "manage.py", "sse_publish", "broadcast", '{"title": "hello"}', "--event", "broadcast"],
        cwd=ROOT,
        env=site.env,
        capture_output=True,
        text=True,
        check=True,
    )
    t.join(15)
    assert received, "no event arrived"
    assert received[0]["event"] == "broadcast"
    assert json.loads(received[0]["data"]) == {"title": "hello"}
    assert received[0]["id"] == out.stdout.strip()


def test_seed_demo_again_keeps_everyone_signed_in(site: DaphneServer) -> None:
    # make run seeds on every start: a restart must not sign the demo users out.
    client = login(site.url, "bob")
    assert client.get("/notifications/").status_code == 200
    seed = [PYTHON, "manage.py", "seed_demo"]
    subprocess.run(seed, cwd=ROOT, env=site.env, capture_output=True, check=True)
    page = client.get("/notifications/")
    assert page.status_code == 200, f"bob is signed out: {page.status_code} {page.headers.get('location')}"
    client.close()
