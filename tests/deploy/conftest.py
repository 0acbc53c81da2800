"""Fixtures of tests/deploy: the demo's database, the servers of ``servers.COMMANDS`` on it, a token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.deploy.servers import CHANNEL, Server
from tests.servers import RedisServer, manage, prepare_database, project_env


@pytest.fixture(scope="module")
def template_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment every server of the module starts from (each test copies the database)."""
    tmp = tmp_path_factory.mktemp("deploy")
    env = project_env(
        f"sqlite:///{tmp / 'db.sqlite3'}",
        settings="tests.deploy.settings",
        SSE_MAX_STREAMS_PER_USER="0",
        SSE_SHUTDOWN_RETRY_SPREAD_MS="3000",
    )
    prepare_database(env)
    return env


@pytest.fixture
def serve(
    request: pytest.FixtureRequest, template_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., Server]]:
    """``serve(name, **env) -> Server``: started, on a copy of the database; killed after the test."""
    started: list[Server] = []
    redis: list[RedisServer] = []

    def make(name: str, **extra: str) -> Server:
        env = dict(template_env, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", **extra)
        prepare_database(env)
        if name == "gunicorn":  # two processes: their streams meet through Redis
            redis.append(RedisServer().start())
            env["REDIS_URL"] = redis[-1].url
        server = Server(name, env, tmp_path / f"{name}.log")
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.kill()
    for r in redis:
        r.stop()


@pytest.fixture(scope="module")
def token(template_env: dict[str, str]) -> str:
    """alice's stream token for the channel (signed, so good on every copy of the database)."""
    out = manage(
        template_env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; from sse.auth.tokens import issue_token;"
        f"print(issue_token(get_user_model().objects.get(username='alice'), [{CHANNEL!r}]).token)",
    )
    return out.stdout.strip().splitlines()[-1]
