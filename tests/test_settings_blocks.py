"""Every settings module configures the channel layer and SQLite as tests/settings_blocks.py does.

The demo's project/settings.py writes those blocks out itself (it must not import from tests/):
this is what keeps it and the test projects from drifting apart. Each module is imported in a
process of its own, with the environment of the case.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.servers import PYTHON, ROOT, project_env
from tests.settings_blocks import LAYER_CAPACITY, channel_layers, sqlite_options

SETTINGS_MODULES = ["project.settings", "tests.delivery.settings", "tests.sse_app.settings"]
READ = """
import importlib, json, sys
module = importlib.import_module(sys.argv[1])
names = [n for n in dir(module) if n.startswith("SSE_QUEUE_")]
print(json.dumps({
    "layers": module.CHANNEL_LAYERS,
    "sqlite": module.DATABASES["default"].get("OPTIONS"),
    "queue": {n: getattr(module, n) for n in names},
}))
"""


def read_settings(module: str, tmp_path: Path, **env: str) -> dict[str, Any]:
    environment = project_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", settings=module, **env)
    environment.setdefault("SSE_APP_DB", str(tmp_path / "db.sqlite3"))
    for name in ("REDIS_URL", "SSE_TEST_LAYER_CAPACITY", "SSE_QUEUE_MAX_FRAMES", "SSE_QUEUE_MAX_BYTES"):
        if name not in env:
            environment.pop(name, None)
    out = subprocess.run(
        [PYTHON, "-c", READ, module], cwd=ROOT, env=environment, check=True, capture_output=True, text=True
    )
    return dict(json.loads(out.stdout))


@pytest.mark.parametrize("module", SETTINGS_MODULES)
@pytest.mark.parametrize("url", ["", "redis://127.0.0.1:1/0"])
def test_channel_layer_and_sqlite_options_are_the_shared_ones(module: str, url: str, tmp_path: Path) -> None:
    found = read_settings(module, tmp_path, REDIS_URL=f"  {url} ")
    assert found["layers"] == channel_layers(url)
    assert found["sqlite"] == sqlite_options()


def test_delivery_layer_capacity_comes_from_the_environment(tmp_path: Path) -> None:
    url = "redis://127.0.0.1:1/0"
    found = read_settings("tests.delivery.settings", tmp_path, REDIS_URL=url, SSE_TEST_LAYER_CAPACITY="20")
    assert found["layers"] == channel_layers(url, 20) != channel_layers(url, LAYER_CAPACITY)


@pytest.mark.parametrize("module", ["tests.delivery.settings", "tests.sse_app.settings"])
def test_queue_bounds_come_from_the_environment(module: str, tmp_path: Path) -> None:
    assert read_settings(module, tmp_path)["queue"] == {}
    found = read_settings(module, tmp_path, SSE_QUEUE_MAX_FRAMES="300", SSE_QUEUE_MAX_BYTES="4096")
    assert found["queue"] == {"SSE_QUEUE_MAX_FRAMES": 300, "SSE_QUEUE_MAX_BYTES": 4096}
