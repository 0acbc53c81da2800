"""docs/cross-origin.md, setup 4, run as written: a fresh project whose API takes simplejwt
access tokens, a page that opens its stream with the JWT (the ``headers`` option) and
refreshes it through simplejwt's refresh endpoint, across several expiries.

``django-admin startproject`` in a temporary folder; the doc's settings and URL blocks added
to it, with 4-second access tokens; ``python -m sse.daphne`` serving it (``sse`` imported
from this tree); a publisher process sending numbered events before, across and after the
expiries; Chromium on the page. Every event must arrive exactly once, in order, with the
stream ended and reopened at each expiry.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.servers import ROOT, DaphneServer, wait_for_port

pytestmark = pytest.mark.browser

DOC = ROOT / "docs" / "cross-origin.md"
MARKER = "tests/api_auth/test_jwt_recipe.py runs the next block"
ACCESS_SECONDS = 4
PASSWORD = "recipe-password-1"
WAIT_MS = 90_000


def doc_blocks() -> list[str]:
    """The blocks after the doc's markers, in order: settings, URLs, the page's script."""
    text = DOC.read_text()
    blocks = re.findall(re.escape(MARKER) + r"[^\n]*-->\n```\w*\n(.*?)^```$", text, re.S | re.M)
    assert len(blocks) == 3, f"{DOC} should have 3 blocks after {MARKER!r}, has {len(blocks)}"
    return blocks


PUBLISHER = """
import os, sys, threading
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
import django
django.setup()
import sse

channel, every = sys.argv[1], float(sys.argv[2])
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
count = 0
while not done.is_set():
    sse.publish(channel, {"n": count}, event="order")
    count += 1
    done.wait(every)
print(f"published {count}", flush=True)
"""

CHANNELS = """
import sse


@sse.channel("orders.customer.{pk}")
def own_orders(user, pk):
    return user.is_authenticated and str(user.pk) == pk
"""

APPS = """
from django.apps import AppConfig


class OrdersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "orders"

    def ready(self):
        from orders import channels  # noqa: F401
"""

VIEWS = """
from django.shortcuts import render


def page(request):
    return render(request, "orders/page.html")
"""

PAGE = """{% load static %}<!doctype html>
<meta charset="utf-8">
<title>orders, over a JWT</title>
<script src="{% static 'sse/sse.js' %}"></script>
<script>
SCRIPT
window.got = [];
window.states = [];
stream.on("order", (data) => window.got.push(data.n));
stream.on("reset", (data) => window.got.push("reset " + data.reason));
stream.onState((state) => window.states.push(state));
window.stream = stream;
</script>
"""


def run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@dataclass
class Project:
    server: DaphneServer
    env: dict[str, str]
    home: Path
    pk: int  # the signed-in user's


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    home = tmp_path_factory.mktemp("jwt-recipe")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_"))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    # sse from this tree; the project from its own folder (the current directory).
    env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE="mysite.settings")
    run([sys.executable, "-m", "django", "startproject", "mysite", "."], home, env)
    orders = home / "orders"
    (orders / "templates" / "orders").mkdir(parents=True)
    (orders / "__init__.py").write_text("")
    (orders / "channels.py").write_text(CHANNELS)
    (orders / "apps.py").write_text(APPS)
    (orders / "views.py").write_text(VIEWS)
    settings_block, urls_block, script = doc_blocks()
    settings = home / "mysite" / "settings.py"
    settings.write_text(
        settings.read_text()
        + textwrap.dedent(
            """
            INSTALLED_APPS = ["daphne", *INSTALLED_APPS, "sse", "orders"]
            ASGI_APPLICATION = "mysite.asgi.application"
            CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
            """
        )
        + "\n"
        + settings_block
        + "\nfrom datetime import timedelta\n"
        + f"SIMPLE_JWT = {{'ACCESS_TOKEN_LIFETIME': timedelta(seconds={ACCESS_SECONDS})}}\n"
    )
    (home / "mysite" / "asgi.py").write_text(
        "import os\n\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n\n"
        "from sse.asgi import get_asgi_application  # noqa: E402\n\napplication = get_asgi_application()\n"
    )
    urls = home / "mysite" / "urls.py"
    urls.write_text(
        urls.read_text().replace("from django.urls import path", "from django.urls import include, path")
        + "\nfrom orders import views\n\n"
        + 'urlpatterns += [path("sse/", include("sse.urls")), path("orders/", views.page)]\n\n'
        + urls_block
    )
    run([sys.executable, "-m", "django", "migrate", "-v0"], home, env)
    out = run(
        [
            sys.executable,
            "-m",
            "django",
            "shell",
            "-v0",
            "-c",
            "from django.contrib.auth import get_user_model\n"
            f"print(get_user_model().objects.create_user('ann', password={PASSWORD!r}).pk)",
        ],
        home,
        env,
    )
    pk = int(out.strip().splitlines()[-1])
    (orders / "templates" / "orders" / "page.html").write_text(
        PAGE.replace("SCRIPT", script.replace("orders.customer.42", f"orders.customer.{pk}"))
    )
    # Served from the project's folder, as its user would (DaphneServer starts in the repository).
    server = DaphneServer(env, asgi="mysite.asgi:application", log_path=home / "daphne.log")
    with open(home / "daphne.log", "ab") as log:
        server.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sse.daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(server.port),
                server.asgi,
            ],
            cwd=home,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(server.port, proc=server.proc)
        yield Project(server, env, home, pk)
    finally:
        server.stop()


def test_a_jwt_page_gets_every_event_across_expiries(browser: Any, project: Project) -> None:
    server = project.server
    context = browser.new_context()
    page = context.new_page()
    streams: list[int] = []
    refreshes: list[int] = []

    def on_response(response: Any) -> None:
        if "/sse/stream/" in response.url:
            streams.append(response.status)
        elif response.url.endswith("/api/token/refresh/"):
            refreshes.append(response.status)

    page.on("response", on_response)
    # Sign in as the site's own front end would: simplejwt's pair, kept by the page.
    page.goto(server.url + "/admin/login/")
    answer = page.evaluate(
        """async (password) => {
            const r = await fetch("/api/token/", {
              method: "POST",
              headers: {"Content-Type": "application/json"},
              body: JSON.stringify({username: "ann", password}),
            });
            const pair = await r.json();
            sessionStorage.setItem("access", pair.access);
            sessionStorage.setItem("refresh", pair.refresh);
            return r.status;
        }""",
        PASSWORD,
    )
    assert answer == 200
    page.goto(server.url + "/orders/")
    page.wait_for_function("() => window.stream && window.stream.state === 'live'", timeout=WAIT_MS)
    publisher = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, f"orders.customer.{project.pk}", "0.25"],
        cwd=project.home,
        env=project.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # Past three expiries of the JWT the page opened with, each a stream ended and reopened.
        deadline = time.monotonic() + 240
        while not (len([s for s in streams if s == 200]) >= 4 and len(refreshes) >= 3):
            assert time.monotonic() < deadline, f"streams {streams}, refreshes {refreshes}"
            assert page.evaluate("window.stream.stopReason") is None, page.evaluate("window.states")
            page.wait_for_timeout(250)
    finally:
        out = publisher.communicate(timeout=60)[0]  # closes its input: it stops
    published = int(re.search(r"published (\d+)", out).group(1))  # type: ignore[union-attr]
    try:
        page.wait_for_function(f"() => window.got.length >= {published}", timeout=WAIT_MS)
    except PlaywrightTimeout:
        pass
    got = page.evaluate("window.got")
    assert got == list(range(published)), (
        f"{len(got)} of {published}; missing {sorted(set(range(published)) - set(got))[:20]}; "
        f"states {page.evaluate('window.states')}"
    )
    assert page.evaluate("window.stream.stopReason") is None
    assert all(status in (200, 401) for status in streams), streams
    assert all(status == 200 for status in refreshes), refreshes
    context.close()
