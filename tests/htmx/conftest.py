"""The demo project with the recipe of docs/htmx.md, under Daphne; a proxy in front of it per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.htmx import recipe
from tests.htmx.proxy import Proxy
from tests.project.conftest import login
from tests.servers import ROOT, DaphneServer, prepare_database, project_env


@pytest.fixture(scope="session")
def htmx_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    tmp = tmp_path_factory.mktemp("htmx-site")
    recipe_dir = tmp / "recipe"
    recipe.write(recipe_dir)
    env = project_env(
        f"sqlite:///{tmp / 'db.sqlite3'}",
        settings="tests.htmx.settings",
        SSE_HEARTBEAT_SECONDS="1",
        HTMX_RECIPE_DIR=str(recipe_dir),
        PYTHONPATH=f"{ROOT}:{recipe_dir}",
    )
    prepare_database(env)
    server = DaphneServer(env, log_path=tmp / "daphne.log")
    with server:
        yield server


@pytest.fixture
def proxy(htmx_site: DaphneServer) -> Iterator[Proxy]:
    front = Proxy(htmx_site.port).start()
    yield front
    front.stop()


@pytest.fixture
def staff(htmx_site: DaphneServer) -> Iterator[httpx.Client]:
    client = login(htmx_site.url, "admin")
    yield client
    client.close()


def recipe_dir(site: DaphneServer) -> Path:
    return Path(site.env["HTMX_RECIPE_DIR"])
